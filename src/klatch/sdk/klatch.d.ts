// Type declarations for Klatch's browser SDKs, served at /chat-web/klatch.d.ts.
// They describe the Kustomer-compatible globals `Kustomer` (widget.js) and
// `KustomerCore` (core.js). Callbacks follow Kustomer's convention:
// callback(response, error), where error is undefined or a KlatchError.
//
// Written so that Kustomer's documented examples compile unchanged under
// `tsc --strict` (TypeScript 4.6 or later):
// - a listener gets its event's payload, never null (onOpen, onClose and
//   onLogout have none: null), so
//   `Kustomer.addListener('onConversationCreate', (res) => res.conversationId)` is fine;
// - a method's callback is (response, undefined) or (null, error): once `error`
//   is checked, TypeScript knows `response` is there
//   (`(res, error) => { if (error) return; res.custom }`).

export {};

declare global {
  /** Every SDK error: a native Error with a stable code. */
  interface KlatchError extends Error {
    /** e.g. unknown_attribute, type_mismatch, value_too_long, value_not_allowed,
     * attribute_read_only, too_many_attributes, conversation_not_found,
     * conversation_ended, not_initialized, invalid_arguments, not_supported,
     * network_error, invalid_token, origin_not_allowed, rate_limited */
    code: string;
    /** HTTP status of the server's answer, when there was one. */
    status?: number;
    title?: string;
    detail?: string;
    source?: { pointer?: string };
    /** One entry per offending attribute. */
    details?: Array<{ attribute?: string; code: string; message: string; pointer?: string }>;
  }

  /** A method's callback: (response, undefined) on success, (null, error) on failure. */
  type KlatchCallback<T> = (
    ...result: [response: T, error: undefined] | [response: null, error: KlatchError]
  ) => void;
  /** An event listener: called with the event's payload (and no error). */
  type KlatchListener<T> = (response: T, error: KlatchError | undefined) => void;
  type CustomAttributes = Record<string, string | number | boolean | null>;
  type Availability = 'online' | 'offline' | 'hidden' | 'disabled' | 'none';

  interface KlatchChatSettings {
    brandId: string;
    teamName?: string;
    greeting?: string;
    colors?: Record<string, string>;
    closableChat?: boolean;
    enabled?: boolean;
    /** The brand's pre-chat form (Klatch): the widget shows it; KustomerCore never does. */
    preChatForm?: { questions: KlatchPreChatQuestion[] };
    [setting: string]: unknown;
  }

  /** One question of a brand's pre-chat form, bound to a custom attribute. */
  interface KlatchPreChatQuestion {
    /** `<klass>.<attribute>`, e.g. `conversation.issueTypeStr`. */
    id: string;
    klass: 'conversation' | 'customer';
    attribute: string;
    label: string;
    required: boolean;
    /** The attribute's type: str, txt, num, bool, at, url, tree. */
    type: string;
    input: 'text' | 'textarea' | 'number' | 'bool' | 'datetime' | 'url' | 'choice';
    choices?: Array<{ value: string; label: string }>;
    maxLength?: number;
  }

  /** Klatch's own start options (not Kustomer's). */
  interface KlatchStartOptions {
    /** false: this page never shows the brand's pre-chat form. */
    preChatForm?: boolean;
  }

  interface KlatchConversation {
    conversationId: string;
    createdAt: string;
    ended: boolean;
    isInAssistantMode: boolean;
    lastMessageAt?: string | null;
    preview?: string | null;
    title?: string | null;
    custom?: CustomAttributes;
  }

  interface KlatchMessage {
    messageId: string;
    conversationId: string;
    body: string;
    payload: string | null;
    createdAt: string;
    direction: 'in' | 'out';
    attachments: unknown[];
    meta: Record<string, unknown>;
    sentBy: { type: string; id: string | null; displayName: string | null; avatarUrl: string | null };
  }

  /** Where a page of a list stands: page numbers, null past either end. */
  interface KlatchPages {
    current: number;
    first: number;
    next: number | null;
    previous: number | null;
  }

  interface KlatchUnreadCount {
    total: number;
    conversations: Record<string, number>;
  }

  interface KlatchDescribeConversationOptions {
    conversationId: string;
    customAttributes: CustomAttributes;
  }

  /** Widget only: without a conversationId while no conversation is shown, the
   * attributes wait for the next conversation the widget creates. */
  interface KlatchDescribeNextConversationOptions {
    conversationId?: undefined;
    customAttributes: CustomAttributes;
  }

  interface KlatchDescribeCustomerOptions {
    attributes?: {
      sharedEmails?: string[];
      sharedPhones?: string[];
      sharedSocials?: Array<{ username: string; type: string }>;
      emails?: string[];
      phones?: string[];
      socials?: Array<{ username: string; type: string }>;
    };
    customAttributes?: CustomAttributes;
  }

  interface KlatchLoginResponse {
    identified: true;
    customerId: string;
    email: string | null;
    externalId: string | null;
    /** The anonymous customer's conversations that moved to this one. */
    mergedConversationIds: string[];
  }

  interface KlatchCustomer {
    customerId: string;
    identified: boolean;
    email: string | null;
    externalId: string | null;
    name: string | null;
    attributes: {
      sharedEmails: string[];
      sharedPhones: string[];
      sharedSocials: Array<{ username: string; type: string }>;
    };
    custom: CustomAttributes;
  }

  interface KlatchEnded {
    conversationId: string;
    createdAt: string;
    ended: boolean;
    endedAt: string | null;
  }

  interface KlatchCoreEvents {
    onMessageReceived: KlatchMessage;
    onMessageSent: KlatchMessage;
    onConversationCreate: KlatchConversation;
    onConversationEnded: { conversationId: string; createdAt: string | null; ended: true };
    onConversationUnended: { conversationId: string; createdAt: string | null; ended: false };
    onAgentTypingActivity: {
      conversationId: string;
      user: { displayName: string | null; avatarUrl: string | null };
      typing: boolean;
    };
    /** `change` is the conversation whose count changed, and its new count. */
    onUnread: KlatchUnreadCount & { change: { conversationId: string; count: number } };
    onLogin: KlatchLoginResponse;
    onLogout: null;
  }

  interface KlatchWidgetEvents extends KlatchCoreEvents {
    onOpen: null;
    onClose: null;
  }

  /** What both SDKs offer alike: the customer's login and details, listeners of
   * their own events (`Events`), the unread count, and stopping. */
  interface KlatchSDKBase<Events> {
    login(options: { jwtToken: string }, callback?: KlatchCallback<KlatchLoginResponse>): void;
    logout(callback?: KlatchCallback<{ loggedOut: true }>): void;
    /** Whether the session is logged in as this email (preferred) or externalId. */
    isLoggedIn(
      options: { email?: string; externalId?: string },
      callback: KlatchCallback<boolean>,
    ): void;
    describeCustomer(
      options: KlatchDescribeCustomerOptions,
      callback?: KlatchCallback<KlatchCustomer>,
    ): void;
    addListener<E extends keyof Events>(event: E, listener: KlatchListener<Events[E]>): void;
    removeListener<E extends keyof Events>(event: E, listener: KlatchListener<Events[E]>): void;
    getUnreadCount(): KlatchUnreadCount;
    stop(callback?: KlatchCallback<null>): void;
  }

  /** The headless SDK (core.js). */
  interface KustomerCoreSDK extends KlatchSDKBase<KlatchCoreEvents> {
    init(
      options?: { brandId?: string; assistantId?: string; scheduleId?: string; lang?: string },
      callback?: KlatchCallback<{ settings: KlatchChatSettings; availability: Availability }>,
    ): void;
    isChatAvailable(callback?: KlatchCallback<{ availability: Availability }>): {
      availability: Availability;
    };
    getChatSettings(callback?: KlatchCallback<KlatchChatSettings>): KlatchChatSettings | undefined;
    createConversation(
      options: { title?: string; message?: string; customAttributes?: CustomAttributes },
      callback?: KlatchCallback<KlatchConversation>,
    ): void;
    sendMessage(
      options: { conversationId: string; body: string; payload?: string },
      callback?: KlatchCallback<KlatchMessage>,
    ): void;
    describeConversation(
      options: KlatchDescribeConversationOptions,
      callback?: KlatchCallback<{ conversationId: string; custom: CustomAttributes }>,
    ): void;
    endConversation(
      options: { conversationId: string },
      callback?: KlatchCallback<KlatchEnded>,
    ): void;
    sendTypingActivity(
      options: { conversationId: string; typing?: boolean },
      callback?: KlatchCallback<{ conversationId: string; typing: boolean }>,
    ): void;
    getConversations(
      options?: { page?: number; pageSize?: number },
      callback?: KlatchCallback<{
        conversations: KlatchConversation[];
        pages: KlatchPages;
      }>,
    ): void;
    getConversation(
      options: { conversationId: string },
      callback?: KlatchCallback<KlatchConversation>,
    ): void;
    getMessages(
      options: { conversationId: string; page?: number; pageSize?: number },
      callback?: KlatchCallback<{
        conversationId: string;
        messages: KlatchMessage[];
        pages: KlatchPages;
      }>,
    ): void;
    markRead(
      options: { conversationId: string },
      callback?: KlatchCallback<{ conversationId: string }>,
    ): void;
  }

  /** The chat widget (widget.js). */
  interface KustomerSDK extends KlatchSDKBase<KlatchWidgetEvents> {
    start(
      options?: {
        brandId?: string;
        hideChatIcon?: boolean;
        lang?: string;
        assistantId?: string;
        scheduleId?: string;
        preferredView?: string;
        /** Klatch's options, e.g. `{ preChatForm: false }` to skip the pre-chat form. */
        klatch?: KlatchStartOptions;
      },
      /** Called with no arguments once started; with (null, error) if start failed. */
      callback?: (response?: null, error?: KlatchError) => void,
    ): void;
    open(callback?: KlatchCallback<null>): void;
    close(callback?: KlatchCallback<null>): void;
    /** Without a conversationId (Klatch): the next conversation's attributes, see
     * KlatchDescribeNextConversationOptions; the response's conversationId is then null. */
    describeConversation<
      O extends KlatchDescribeConversationOptions | KlatchDescribeNextConversationOptions,
    >(
      options: O,
      callback?: KlatchCallback<{
        conversationId: O extends { conversationId: string } ? string : null;
        custom: CustomAttributes;
      }>,
    ): void;
    isChatAvailable(): { availability: Availability };
    createConversation(
      options?: { message?: string; customAttributes?: CustomAttributes; assistantId?: string },
      callback?: KlatchCallback<KlatchConversation>,
    ): void;
    openConversationById(
      options: { conversationId: string },
      callback?: KlatchCallback<null>,
    ): void;
    getOpenConversations(callback: KlatchCallback<KlatchConversation[]>): void;
    /** Not supported by Klatch: calls back with an error whose code is not_supported. */
    openKbArticle(articleId: string, callback?: KlatchCallback<null>): void;
    /** Not supported by Klatch: calls back with an error whose code is not_supported. */
    openKbCategory(categoryId: string, callback?: KlatchCallback<null>): void;
    /** Not supported by Klatch: calls back with an error whose code is not_supported. */
    openKbSearch(query: string, callback?: KlatchCallback<null>): void;
  }

  interface Window {
    Kustomer: KustomerSDK;
    KustomerCore: KustomerCoreSDK;
  }

  interface WindowEventMap {
    kustomerLoaded: Event;
    kustomerCoreLoaded: Event;
  }

  const Kustomer: KustomerSDK;
  const KustomerCore: KustomerCoreSDK;
}

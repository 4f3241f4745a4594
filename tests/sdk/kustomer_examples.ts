// Kustomer's documented Web and Core SDK examples, as Kustomer's pages (and the
// integration code that follows them) write them: see
// /work/shared/reference/kustomer-sdk-and-api.md §1-4. They must compile unchanged
// against klatch.d.ts under `tsc --strict` (tests/sdk/test_typescript.py).

declare const token: string;

// Loading asynchronously (GTM): start once the script has arrived.
window.addEventListener('kustomerLoaded', function () {
  Kustomer.start({ brandId: 'YOUR_BRAND_ID' });
});

// start with its documented options, and the callback that runs once started.
Kustomer.start();
Kustomer.start({ hideChatIcon: true, lang: 'en_us' });
Kustomer.start({ assistantId: 'SOME_ASSISTANT_ID' }, function () {
  console.log('started');
});

// Troubleshooting: call other methods from the start callback.
Kustomer.start({}, () => {
  Kustomer.open();
  Kustomer.login({ jwtToken: token });
});

// The seed: describe each new conversation.
Kustomer.addListener('onConversationCreate', (res) =>
  Kustomer.describeConversation({
    conversationId: res.conversationId,
    customAttributes: { orderNumberStr: 'A-1042', vipBool: true, priorityNum: 2 },
  }),
);

// describeConversation with its callback(callbackResponse, error).
Kustomer.addListener('onConversationCreate', function (callbackResponse, error) {
  if (error) return;
  Kustomer.describeConversation(
    {
      conversationId: callbackResponse.conversationId,
      customAttributes: { some_custom_attribute: 'some value' },
    },
    function (callbackResponse, error) {
      if (error) {
        console.error(error.message);
        return;
      }
      console.log(callbackResponse.conversationId, callbackResponse.custom);
    },
  );
});

// Listeners: onOpen and onClose take no payload; onUnread carries the counts.
function onOpenHandler() {
  console.log('opened');
}
Kustomer.addListener('onOpen', onOpenHandler);
Kustomer.removeListener('onOpen', onOpenHandler);
Kustomer.addListener('onClose', function () {
  console.log('closed');
});
Kustomer.addListener('onUnread', function (response) {
  console.log(response.total, response.change.conversationId);
});
Kustomer.addListener('onLogin', function (response) {
  console.log(response.customerId);
});
Kustomer.addListener('onLogout', function () {
  console.log('logged out');
});

// login, isLoggedIn, logout.
Kustomer.login({ jwtToken: token }, function (callbackResponse, error) {
  if (error) return;
  console.log(callbackResponse.identified, callbackResponse.customerId);
  Kustomer.describeCustomer({
    attributes: { sharedEmails: ['ann@example.com'], sharedPhones: ['+15555550100'] },
    customAttributes: { planStr: 'pro' },
  });
});
Kustomer.isLoggedIn({ email: 'ann@example.com' }, function (callbackResponse, error) {
  if (!error && !callbackResponse) Kustomer.login({ jwtToken: token });
});
Kustomer.isLoggedIn({ externalId: 'user-42' }, function () {});
Kustomer.logout(function (callbackResponse, error) {
  if (error) console.error(error);
});

// isChatAvailable is synchronous.
const response = Kustomer.isChatAvailable();
if (response.availability === 'online') Kustomer.open();

// createConversation, openConversationById, getOpenConversations, getUnreadCount.
Kustomer.createConversation({ message: 'Hi', customAttributes: { orderNumberStr: 'A-1' } },
  function (response, error) {
    if (error) return;
    console.log(response.conversationId);
  });
Kustomer.createConversation({ customAttributes: { orderNumberStr: 'A-2' } });
Kustomer.openConversationById({ conversationId: '5f0c' }, function (_null, error) {
  if (error) console.error(error.message);
});
Kustomer.getOpenConversations(function (conversations, error) {
  if (error) return;
  conversations.forEach(function (conversation) { console.log(conversation.conversationId); });
});
const unread = Kustomer.getUnreadCount();
console.log(unread.total, unread.conversations['5f0c']);
Kustomer.openKbArticle('article-id', function (_null, error) {
  if (error) console.error(error.code);
});
Kustomer.openKbCategory('category-id');
Kustomer.close();
Kustomer.stop();

// Kustomer Core.
window.addEventListener('kustomerCoreLoaded', function () {
  KustomerCore.init({ brandId: 'YOUR_BRAND_ID' }, function (callbackResponse, error) {
    if (error) return;
    console.log(callbackResponse.settings.teamName);
    KustomerCore.addListener('onMessageReceived', function (message) {
      console.log(message.body, message.direction, message.sentBy.displayName);
    });
    KustomerCore.addListener('onConversationEnded', function (res) {
      console.log(res.conversationId, res.ended);
    });
    KustomerCore.addListener('onAgentTypingActivity', function (res) {
      console.log(res.user.displayName, res.typing);
    });
    KustomerCore.createConversation({ title: 'Order A-1042' }, function (conversation, error) {
      if (error) return;
      KustomerCore.sendMessage({ conversationId: conversation.conversationId, body: 'Hello' },
        function (message, error) {
          if (!error) KustomerCore.markRead({ conversationId: message.conversationId });
        });
      KustomerCore.describeConversation({
        conversationId: conversation.conversationId,
        customAttributes: { orderNumberStr: 'A-1042' },
      });
      KustomerCore.getMessages({ conversationId: conversation.conversationId },
        function (res, error) {
          if (error) return;
          res.messages.forEach(function (m) { console.log(m.messageId, m.createdAt); });
        });
      KustomerCore.endConversation({ conversationId: conversation.conversationId },
        function (res, error) {
          if (error) return;
          console.log(res.ended);
        });
    });
    KustomerCore.getConversations({ page: 1, pageSize: 100 }, function (res, error) {
      if (error) return;
      console.log(res.conversations.length, res.pages.next);
    });
    KustomerCore.sendTypingActivity({ conversationId: '5f0c', typing: true });
    console.log(KustomerCore.getUnreadCount().total, KustomerCore.isChatAvailable().availability);
  });
});

export {};

/*
 * Klatch widget.js: the chat widget, compatible with Kustomer Chat's Web SDK
 * (window.Kustomer). Load it exactly as Kustomer's:
 *
 *   <script>
 *     window.addEventListener('kustomerLoaded', function () {
 *       Kustomer.start({ brandId: '...' }, function () { ... });
 *     });
 *   </script>
 *   <script src="https://YOUR-KLATCH/chat-web/widget.js" data-kustomer-api-key="kt_..."></script>
 *
 * The widget is built on core.js (window.KustomerCore), which it loads from its
 * own server. Callbacks are callback(response, error): error is undefined or a
 * native Error with a stable `code`. The UI lives in a same-origin iframe with id
 * `kustomer-ui-sdk-iframe`; it makes no request to any other host.
 */
(function () {
  'use strict';

  if (window.Kustomer && window.Kustomer.__klatch) return;

  var script = document.currentScript ||
    document.querySelector('script[src*="/chat-web/widget.js"]');
  var apiKey = script ? script.getAttribute('data-kustomer-api-key') : null;
  var base = script ? script.src.replace(/\/chat-web\/widget\.js(\?.*)?$/, '') : '';
  var uiStateKey = 'klatch.widget.' + (apiKey || '');
  var START_OPTIONS = ['brandId', 'hideChatIcon', 'lang', 'assistantId', 'scheduleId',
    'preferredView', 'klatch'];
  var CORE_EVENTS = ['onMessageReceived', 'onMessageSent', 'onConversationCreate',
    'onConversationEnded', 'onConversationUnended', 'onAgentTypingActivity', 'onUnread',
    'onLogin', 'onLogout'];
  var TYPING_IDLE_MS = 4000;
  // An agent's "typing…" without news (a typing:false, a message) fades after this.
  var AGENT_TYPING_TIMEOUT_MS = 10000;
  // Below this the open widget fills the screen (a phone), rather than a floating card.
  var FULL_SCREEN = '(max-width: 480px), (max-height: 480px)';
  // A Num answer as the server reads one (JSON's numbers), and the largest integer
  // a browser holds exactly.
  var NUMBER_RE = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
  var MAX_EXACT_INTEGER = 9007199254740992;

  // ------------------------------------------------------------------ helpers

  function sdkError(code, message) {
    var error = new Error(message);
    error.code = code;
    return error;
  }

  function invalid(method, message) {
    return sdkError('invalid_arguments', 'Kustomer.' + method + ': ' + message);
  }

  // Calls the page's callback with `args`; one that throws must not break the widget.
  // Without a callback, a `warning` (not null) goes to the console. The widget has
  // this of its own, not core's, because it answers before core.js has arrived:
  // start, stop, and calls refused as not_initialized or not_supported.
  function callBack(callback, args, warning) {
    if (typeof callback !== 'function') {
      if (warning !== null) console.warn('[Klatch] ' + warning);
      return;
    }
    try { callback.apply(undefined, args); } catch (thrown) {
      console.error('[Klatch] a callback threw:', thrown);
    }
  }

  // callback(response, undefined) or callback(null, error): every method but start.
  function answer(callback, response, error) {
    callBack(callback, error ? [null, error] : [response, undefined], error ? error.message : null);
  }

  function readUiState() {
    try {
      var saved = JSON.parse(window.localStorage.getItem(uiStateKey) || 'null');
      return shared().isObject(saved) ? saved : {};
    } catch (e) { return {}; }
  }

  function saveUiState() {
    try {
      window.localStorage.setItem(uiStateKey, JSON.stringify({
        open: state.open, conversationId: state.view === 'thread' ? state.conversationId : null
      }));
    } catch (e) { /* storage may be disabled: the widget then forgets on reload */ }
  }

  function promised(method, options) {
    return new Promise(function (resolve, reject) {
      var done = function (response, error) { if (error) reject(error); else resolve(response); };
      if (options === undefined) core()[method](done); else core()[method](options, done);
    });
  }

  function core() { return window.KustomerCore; }

  // core.js's helpers (KustomerCore._internal, not an API: see the end of core.js),
  // for what runs once core.js has arrived, that is from start's callback on.
  function shared() { return core()._internal; }

  // ------------------------------------------------------------------ core.js

  var coreLoading = null;

  function loadCore() {
    if (coreLoading) return coreLoading;
    coreLoading = new Promise(function (resolve, reject) {
      if (core() && core().__klatch) { resolve(core()); return; }
      window.addEventListener('kustomerCoreLoaded', function () { resolve(core()); },
        { once: true });
      var tag = document.createElement('script');
      tag.src = base + '/chat-web/core.js';
      tag.async = true;
      tag.setAttribute('data-kustomer-api-key', apiKey || '');
      tag.onerror = function () {
        coreLoading = null;
        tag.remove();
        reject(sdkError('network_error', 'core.js could not be loaded from ' + tag.src));
      };
      (document.head || document.documentElement).appendChild(tag);
    });
    return coreLoading;
  }

  function bodyReady() {
    if (document.body) return Promise.resolve();
    return new Promise(function (resolve) {
      document.addEventListener('DOMContentLoaded', function () { resolve(); }, { once: true });
    });
  }

  // ------------------------------------------------------------------ state

  var state = {
    started: false,
    starting: null,
    options: {},
    open: false,
    view: 'list',          // 'list' or 'thread'
    conversationId: null,  // the thread shown; null with a draft
    draft: null,           // customAttributes for a conversation not yet created
    pending: {},           // describeConversation without an id: for the next conversation
    form: null,            // the pre-chat form's fields shown with the draft
    conversations: [],
    ended: {},
    typingSent: false,
    typingTimer: null,
    agentTypingTimer: null,
    sending: false,
    listLoading: false
  };
  var listeners = {};
  var coreHandlers = {};
  var ui = null;

  function emit(event, payload) {
    shared().notify(listeners, event, payload);
  }

  function guard(method, callback) {
    if (state.started) return true;
    console.warn('[Klatch] Kustomer.' + method + ' was called before Kustomer.start() finished; ' +
      'call it from the start callback.');
    answer(callback, null, sdkError('not_initialized',
      'Kustomer.' + method + ' needs Kustomer.start() to have finished'));
    return false;
  }

  function settings() {
    return (shared().ready() && core().getChatSettings()) || {};
  }

  function locale() {
    var lang = state.options.lang;
    return typeof lang === 'string' && lang ? lang.replace('_', '-') : undefined;
  }

  function formatTime(iso) {
    if (!iso) return '';
    var when = new Date(iso);
    if (isNaN(when.getTime())) return '';
    var sameDay = when.toDateString() === new Date().toDateString();
    try {
      return sameDay
        ? when.toLocaleTimeString(locale(), { hour: '2-digit', minute: '2-digit' })
        : when.toLocaleDateString(locale(), { month: 'short', day: 'numeric' });
    } catch (e) {
      return when.toISOString().slice(0, 16).replace('T', ' ');
    }
  }

  // ------------------------------------------------------------------ the UI

  var CSS = [
    ':root{--primary:#1f6feb;--on-primary:#fff;color-scheme:light}',
    '*{box-sizing:border-box}',
    'html,body{margin:0;height:100%;background:transparent;overflow:hidden;',
    'font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330}',
    'body{display:flex;flex-direction:column;justify-content:flex-end;align-items:flex-end}',
    'button{font:inherit;cursor:pointer}',
    ':focus-visible{outline:3px solid #ffbf47;outline-offset:2px}',
    '.panel{display:none;flex:1;width:calc(100% - 40px);margin:20px 20px 0;min-height:0;',
    'flex-direction:column;background:#fff;border-radius:14px;overflow:hidden;',
    'box-shadow:0 4px 16px rgba(0,0,0,.2)}',
    '.is-open .panel{display:flex}',
    '.no-launcher .panel{margin-bottom:20px}',
    'header{background:var(--primary);color:var(--on-primary);padding:14px 14px 12px;',
    'display:flex;gap:8px;align-items:flex-start}',
    'header .titles{flex:1;min-width:0}',
    'header h1{font-size:16px;margin:0;font-weight:600}',
    'header p{margin:2px 0 0;font-size:13px}',
    'header p:empty{display:none}',
    '.icon{background:transparent;border:0;color:inherit;width:32px;height:32px;',
    'border-radius:8px;font-size:20px;line-height:1;flex:none}',
    '.icon:hover{background:rgba(255,255,255,.18)}',
    '.back[hidden]{display:none}',
    '.body{flex:1;min-height:0;display:flex;flex-direction:column}',
    '.list{flex:1;overflow:auto;margin:0;padding:8px;list-style:none}',
    '.list li{margin:0 0 6px}',
    '.conv{width:100%;text-align:left;border:1px solid #e3e6ec;background:#fff;border-radius:10px;',
    'padding:10px 12px;display:grid;grid-template-columns:1fr auto;gap:2px 8px;color:inherit}',
    '.conv:hover{background:#f5f7fa}',
    '.conv .preview{overflow:hidden;white-space:nowrap;text-overflow:ellipsis}',
    '.conv .time{color:#667085;font-size:12px}',
    '.conv .tag{font-size:12px;color:#667085}',
    '.conv .count{justify-self:end;background:#d92d20;color:#fff;border-radius:9px;',
    'font-size:12px;min-width:18px;padding:0 5px;text-align:center}',
    '.empty{color:#667085;padding:16px;text-align:center}',
    '.primary{background:var(--primary);color:var(--on-primary);border:0;border-radius:10px;',
    'padding:10px 14px;margin:8px;font-weight:600}',
    '.log{flex:1;overflow:auto;padding:12px;display:flex;flex-direction:column;gap:8px}',
    '.msg{max-width:80%;padding:8px 11px;border-radius:14px;white-space:pre-wrap;',
    'overflow-wrap:anywhere}',
    '.msg .who{display:block;font-size:12px;color:#475467;margin-bottom:2px}',
    '.msg time{display:block;font-size:11px;margin-top:2px}',
    '.klatch-out time{color:#475467}',
    '.klatch-out{align-self:flex-start;background:#f0f2f5;border-bottom-left-radius:4px}',
    '.klatch-in{align-self:flex-end;background:var(--primary);color:var(--on-primary);',
    'border-bottom-right-radius:4px}',
    '.greeting{font-style:normal}',
    '.klatch-typing{min-height:20px;padding:0 14px;font-size:12px;color:#667085}',
    '.ended{padding:12px;border-top:1px solid #e3e6ec;text-align:center;color:#475467}',
    '.ended p{margin:0 0 4px}',
    '.ended[hidden],.composer[hidden],.alert:empty,.list[hidden],.log[hidden],',
    '.newconv[hidden],.klatch-badge[hidden],.restart[hidden],.klatch-typing[hidden]{display:none}',
    '.prechat{flex:none;max-height:55%;overflow:auto;padding:10px 12px 2px;',
    'border-top:1px solid #e3e6ec}',
    '.prechat[hidden]{display:none}',
    '.prechat .intro{margin:0 0 8px;font-size:13px;color:#475467}',
    '.q{margin:0 0 10px;border:0;padding:0;min-width:0}',
    '.q>label,.q legend{display:block;font-weight:600;font-size:13px;margin:0 0 3px;padding:0}',
    '.q .opt{font-weight:400;color:#475467}',
    '.q input:not([type=radio]),.q select,.q textarea{width:100%;border:1px solid #8a94a6;',
    'border-radius:8px;padding:7px 9px;font:inherit;background:#fff;color:inherit}',
    '.q textarea{height:64px;resize:vertical}',
    '.q .choices{display:flex;gap:16px}',
    '.q .choices label{display:inline-flex;gap:5px;align-items:center}',
    '.q [aria-invalid=true]{border-color:#b42318;box-shadow:0 0 0 1px #b42318}',
    '.q .err{margin:3px 0 0;color:#b42318;font-size:12px}',
    '.q .err:empty{display:none}',
    '.composer{display:flex;gap:8px;padding:10px;border-top:1px solid #e3e6ec}',
    '.composer textarea{flex:1;resize:none;border:1px solid #cfd4dc;border-radius:10px;',
    'padding:8px 10px;font:inherit;height:40px;max-height:120px}',
    '.composer .send{border:0;border-radius:10px;background:var(--primary);',
    'color:var(--on-primary);padding:0 14px;font-weight:600}',
    '.composer .send:disabled{opacity:.5;cursor:default}',
    '.alert{margin:0 10px 8px;padding:8px 10px;border-radius:8px;background:#fef3f2;',
    'color:#b42318;font-size:13px}',
    '.launcher-row{flex:none;padding:12px 16px 16px;display:flex;justify-content:flex-end;',
    'width:100%}',
    '.no-launcher .launcher-row{display:none}',
    '.launcher{position:relative;width:60px;height:60px;border-radius:50%;border:0;',
    'background:var(--primary);color:var(--on-primary);box-shadow:0 4px 14px rgba(0,0,0,.25)}',
    '.launcher svg{width:28px;height:28px;fill:currentColor}',
    '.launcher .close-glyph{display:none;font-size:26px;line-height:1}',
    '.is-open .launcher svg{display:none}',
    '.is-open .launcher .close-glyph{display:inline}',
    '.klatch-badge{position:absolute;top:-4px;right:-4px;background:#d92d20;color:#fff;',
    'border-radius:10px;min-width:20px;height:20px;padding:0 6px;font-size:12px;',
    'line-height:20px;font-weight:600}',
    '.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);',
    'white-space:nowrap}',
    // Full screen (a phone): the panel is the whole frame, its header closes it.
    '.full .panel{margin:0;width:100%;border-radius:0;box-shadow:none}',
    '.full.is-open .launcher-row{display:none}',
    '@media (prefers-reduced-motion:no-preference){.panel{animation:rise .16s ease-out}}',
    '@keyframes rise{from{transform:translateY(8px);opacity:0}to{transform:none;opacity:1}}'
  ].join('');

  function el(doc, tag, props, children) {
    var node = doc.createElement(tag);
    Object.keys(props || {}).forEach(function (name) {
      var value = props[name];
      if (value === undefined || value === null || value === false) return;
      if (name === 'text') node.textContent = value;
      else if (name === 'className') node.className = value;
      else if (name.slice(0, 2) === 'on') node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? '' : value);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  function frameStyle() {
    var common = 'position:fixed;right:0;bottom:0;border:0;margin:0;padding:0;' +
      'background:transparent;z-index:2147483000;color-scheme:normal;max-width:100%;';
    if (state.open && fullScreen()) {
      return common + 'display:block;width:100%;height:100%;';
    }
    if (state.open) {
      return common + 'display:block;width:420px;height:min(720px,100%);';
    }
    if (!launcherVisible()) return common + 'display:none;width:0;height:0;';
    return common + 'display:block;width:100px;height:100px;';
  }

  function fullScreen() {
    return Boolean(window.matchMedia && window.matchMedia(FULL_SCREEN).matches);
  }

  function launcherVisible() {
    var availability = core() ? core().isChatAvailable().availability : 'none';
    return !state.options.hideChatIcon && availability !== 'hidden' &&
      availability !== 'disabled';
  }

  function buildUi() {
    var frame = document.createElement('iframe');
    frame.id = 'kustomer-ui-sdk-iframe';
    frame.title = 'Chat';
    frame.setAttribute('aria-label', 'Chat');
    document.body.appendChild(frame);
    var doc = frame.contentDocument;
    doc.open();
    doc.write('<!doctype html><html><head><meta charset="utf-8"><title>Chat</title></head>' +
      '<body></body></html>');
    doc.close();
    doc.documentElement.lang = (locale() || navigator.language || 'en').split('-')[0];
    doc.head.appendChild(el(doc, 'style', { text: CSS }));

    var s = settings();
    var colors = s.colors || {};
    if (colors.primary) doc.documentElement.style.setProperty('--primary', colors.primary);
    if (colors.text) doc.documentElement.style.setProperty('--on-primary', colors.text);
    var team = s.teamName || 'Support';

    var u = { frame: frame, doc: doc };
    u.title = el(doc, 'h1', { id: 'klatch-title', text: team });
    u.subtitle = el(doc, 'p', { text: s.greeting || '' });
    u.back = el(doc, 'button', {
      className: 'icon back', type: 'button', 'aria-label': 'Back to conversations', text: '‹',
      onclick: function () { showList(); }
    });
    u.closeButton = el(doc, 'button', {
      className: 'icon', type: 'button', 'aria-label': 'Close chat', text: '×',
      onclick: function () { closePanel(); }
    });
    u.list = el(doc, 'ul', { className: 'list', 'aria-label': 'Conversations' });
    u.newConversation = el(doc, 'button', {
      className: 'primary newconv', type: 'button', text: 'New conversation',
      onclick: function () { showDraft(null); }
    });
    u.log = el(doc, 'div', {
      className: 'log', role: 'log', 'aria-label': 'Chat transcript', 'aria-live': 'polite'
    });
    u.typing = el(doc, 'div', { className: 'klatch-typing', role: 'status' });
    // The pre-chat form, above the composer of a new conversation (see buildForm).
    u.prechat = el(doc, 'form', {
      className: 'prechat', 'aria-label': 'Before you start', novalidate: true, hidden: true,
      onsubmit: function (event) {
        event.preventDefault();
        if (ui.textarea.value.trim()) sendFromComposer(); else ui.textarea.focus();
      }
    });
    u.alert = el(doc, 'div', { className: 'alert', role: 'alert' });
    u.textarea = el(doc, 'textarea', {
      'aria-label': 'Message', placeholder: 'Write a message…', rows: '1', maxlength: '10000',
      onkeydown: function (event) {
        if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          sendFromComposer();
        }
      },
      oninput: function () { typingFromComposer(); }
    });
    u.send = el(doc, 'button', {
      className: 'send', type: 'button', 'aria-label': 'Send', text: 'Send',
      onclick: function () { sendFromComposer(); }
    });
    u.composer = el(doc, 'div', { className: 'composer' }, [u.textarea, u.send]);
    // An ended conversation shows this instead of the composer.
    u.restart = el(doc, 'button', {
      className: 'primary restart', type: 'button', text: 'Start a new conversation',
      onclick: function () { showDraft(null); }
    });
    u.ended = el(doc, 'div', { className: 'ended', role: 'status', hidden: true }, [
      el(doc, 'p', { text: 'This conversation has ended.' }), u.restart
    ]);
    u.panel = el(doc, 'section', {
      className: 'panel', id: 'klatch-panel', role: 'dialog', 'aria-label': 'Chat with ' + team
    }, [
      el(doc, 'header', {}, [u.back, el(doc, 'div', { className: 'titles' }, [u.title, u.subtitle]),
        u.closeButton]),
      el(doc, 'div', { className: 'body' }, [u.list, u.newConversation, u.log, u.typing,
        u.prechat, u.alert, u.ended, u.composer])
    ]);
    u.badge = el(doc, 'span', { className: 'klatch-badge', id: 'klatch-unread', hidden: true });
    u.launcherLabel = el(doc, 'span', { className: 'sr-only' });
    u.launcher = el(doc, 'button', {
      className: 'launcher', type: 'button', 'aria-label': 'Open chat',
      'aria-controls': 'klatch-panel', 'aria-expanded': 'false',
      'aria-describedby': 'klatch-unread',
      onclick: function () { if (state.open) closePanel(); else openPanel(); }
    });
    u.launcher.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>' +
      '<span class="close-glyph" aria-hidden="true">×</span>';
    u.launcher.appendChild(u.badge);
    doc.body.appendChild(u.panel);
    doc.body.appendChild(el(doc, 'div', { className: 'launcher-row' }, [u.launcher]));
    doc.addEventListener('keydown', function (event) {
      if (event.key === 'Escape' && state.open) { event.preventDefault(); closePanel(); }
    });
    if (window.matchMedia) {
      u.screen = window.matchMedia(FULL_SCREEN);
      u.onScreen = function () { renderChrome(); };
      u.screen.addEventListener('change', u.onScreen);
    }
    ui = u;
    renderChrome();
    renderBadge();
  }

  function renderChrome() {
    if (!ui) return;
    var body = ui.doc.body;
    body.classList.toggle('is-open', state.open);
    body.classList.toggle('no-launcher', !launcherVisible());
    body.classList.toggle('full', fullScreen());
    ui.frame.style.cssText = frameStyle();
    ui.launcher.setAttribute('aria-expanded', state.open ? 'true' : 'false');
    var thread = state.view === 'thread';
    ui.list.hidden = thread || state.listLoading;
    ui.newConversation.hidden = thread || state.listLoading;
    ui.log.hidden = !thread;
    ui.back.hidden = !thread || !otherConversations();
    // Ended: one state, the notice (with a new conversation, if chat is on) in
    // place of the composer, which stays disabled so nothing can be sent to it.
    var ended = Boolean(thread && state.conversationId && state.ended[state.conversationId]);
    var availability = core().isChatAvailable().availability;
    ui.ended.hidden = !ended;
    ui.restart.hidden = availability === 'disabled';
    ui.composer.hidden = !thread || ended;
    ui.prechat.hidden = !formShown();
    ui.typing.hidden = !thread || ended;
    if (ended) clearAgentTyping();
    ui.textarea.disabled = ended;
    ui.send.disabled = ended || state.sending;
    // The greeting is said once: in the thread as its first bubble, else up here.
    ui.subtitle.textContent = availability === 'offline'
      ? 'We are away right now. Leave a message and we will reply here.'
      : availability === 'disabled' ? 'Chat is not available right now.'
        : thread ? '' : (settings().greeting || '');
  }

  // Whether the list has a conversation besides the one shown: the first thread
  // a customer sees has no way back to an empty list.
  function otherConversations() {
    return state.conversations.some(function (c) {
      return c.conversationId !== state.conversationId;
    });
  }

  function clearAgentTyping() {
    clearTimeout(state.agentTypingTimer);
    if (ui) ui.typing.textContent = '';
  }

  function renderBadge() {
    if (!ui) return;
    var total = core().getUnreadCount().total;
    ui.badge.textContent = total > 99 ? '99+' : String(total);
    ui.badge.title = total + ' unread';
    ui.badge.hidden = total === 0;
    // The count is the launcher's description (aria-describedby), its name stays put.
    ui.launcher.setAttribute('aria-label', state.open ? 'Minimize chat' : 'Open chat');
  }

  function focusInside() {
    if (!ui || !state.open) return;
    if (formShown()) state.form[0].focusable.focus();
    else if (state.view === 'thread' && !ui.composer.hidden) ui.textarea.focus();
    else if (state.view === 'thread' && !ui.ended.hidden && !ui.restart.hidden) ui.restart.focus();
    else {
      var first = ui.list.querySelector('button') || ui.newConversation;
      if (first && !first.hidden) first.focus(); else ui.closeButton.focus();
    }
  }

  // ------------------------------------------------------------------ views

  function openPanel(quiet) {
    if (!ui) return Promise.resolve();
    var wasOpen = state.open;
    state.open = true;
    // The list shows once loaded: a customer without conversations goes straight
    // to a new thread, without the list flashing by.
    state.listLoading = state.view !== 'thread';
    var shown = state.view === 'thread'
      ? Promise.resolve()
      : refreshList().then(function () {
        state.listLoading = false;
        if (ui && !state.conversations.length) showDraft(state.draft);
        else renderChrome();
      });
    renderChrome();
    renderBadge();
    saveUiState();
    if (!wasOpen) emit('onOpen', null);
    return shown.then(function () {
      markShownRead();
      if (!quiet) focusInside();
    });
  }

  function closePanel() {
    if (!ui) return;
    var wasOpen = state.open;
    state.open = false;
    renderChrome();
    renderBadge();
    saveUiState();
    if (wasOpen) {
      emit('onClose', null);
      if (launcherVisible()) ui.launcher.focus();
    }
  }

  function showList() {
    if (!ui) return Promise.resolve();
    state.view = 'list';
    state.conversationId = null;
    state.draft = null;
    ui.alert.textContent = '';
    renderChrome();
    saveUiState();
    return refreshList().then(focusInside);
  }

  function refreshList() {
    return promised('getConversations', { pageSize: 100 }).then(function (result) {
      state.conversations = result.conversations;
      result.conversations.forEach(function (c) { state.ended[c.conversationId] = c.ended; });
      renderList();
    }, function (error) {
      if (ui) ui.alert.textContent = 'Could not load your conversations: ' + error.message;
    });
  }

  function renderList() {
    if (!ui) return;
    var doc = ui.doc;
    var unread = core().getUnreadCount().conversations;
    ui.list.textContent = '';
    if (!state.conversations.length) {
      ui.list.appendChild(el(doc, 'li', { className: 'empty', text: 'No conversations yet.' }));
      return;
    }
    state.conversations.forEach(function (c) {
      var count = unread[c.conversationId] || 0;
      // Named by what it shows (the count with a word for screen readers).
      ui.list.appendChild(el(doc, 'li', {}, [el(doc, 'button', {
        className: 'conv klatch-conv', type: 'button',
        'data-conversation-id': c.conversationId,
        onclick: function () { showThread(c.conversationId).catch(alertShown); }
      }, [
        el(doc, 'span', { className: 'preview', text: c.preview || c.title || 'Conversation' }),
        el(doc, 'span', { className: 'time', text: formatTime(c.lastMessageAt || c.createdAt) }),
        el(doc, 'span', { className: 'tag', text: state.ended[c.conversationId] ? 'Ended' : '' }),
        count ? el(doc, 'span', { className: 'count' }, [
          doc.createTextNode(String(count)), el(doc, 'span', { className: 'sr-only', text: ' unread' })
        ]) : null
      ])]));
    });
  }

  function resetThread() {
    ui.log.textContent = '';
    ui.alert.textContent = '';
    clearAgentTyping();
    var s = settings();
    if (s.greeting) {
      ui.log.appendChild(el(ui.doc, 'div', { className: 'msg klatch-msg klatch-out greeting' }, [
        el(ui.doc, 'span', { className: 'who', text: s.teamName || 'Support' }),
        el(ui.doc, 'span', { text: s.greeting })
      ]));
    }
  }

  function showDraft(customAttributes) {
    if (!ui) return;
    state.view = 'thread';
    state.conversationId = null;
    state.draft = customAttributes || {};
    resetThread();
    buildForm();
    renderChrome();
    saveUiState();
    focusInside();
  }

  function showThread(conversationId) {
    if (!ui) return Promise.resolve();
    state.view = 'thread';
    state.conversationId = conversationId;
    state.draft = null;
    resetThread();
    renderChrome();
    saveUiState();
    return Promise.all([
      promised('getConversation', { conversationId: conversationId }),
      allMessages(conversationId, 1, [])
    ]).then(function (results) {
      if (!ui || state.conversationId !== conversationId) return;  // stopped, or moved on
      state.ended[conversationId] = results[0].ended;
      results[1].forEach(appendMessage);
      renderChrome();
      markShownRead();
      focusInside();
    }, function (error) {
      if (ui && state.conversationId === conversationId) {
        ui.alert.textContent = 'Could not load this conversation: ' + error.message;
      }
      throw error;  // for the caller's callback
    });
  }

  // What a showThread() from the UI does on failure: its alert already says why.
  function alertShown() {}

  function allMessages(conversationId, page, collected) {
    return promised('getMessages', { conversationId: conversationId, page: page, pageSize: 100 })
      .then(function (result) {
        collected = collected.concat(result.messages);
        var next = result.pages && result.pages.next;
        return next && page < 50 ? allMessages(conversationId, next, collected) : collected;
      });
  }

  function appendMessage(message) {
    if (!ui || state.view !== 'thread' || message.conversationId !== state.conversationId) return;
    if (ui.log.querySelector('[data-message-id="' + CSS_escape(message.messageId) + '"]')) return;
    var agent = message.direction === 'out';
    ui.log.appendChild(el(ui.doc, 'div', {
      className: 'msg klatch-msg ' + (agent ? 'klatch-out' : 'klatch-in'),
      'data-message-id': message.messageId
    }, [
      agent ? el(ui.doc, 'span', {
        className: 'who', text: (message.sentBy && message.sentBy.displayName) || 'Agent'
      }) : null,
      el(ui.doc, 'span', { className: 'text', text: message.body }),
      el(ui.doc, 'time', { datetime: message.createdAt, text: formatTime(message.createdAt) })
    ]));
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  function CSS_escape(value) {
    return String(value).replace(/["\\]/g, '\\$&');
  }

  function markShownRead() {
    if (!ui || !state.open || state.view !== 'thread' || !state.conversationId) return;
    var id = state.conversationId;
    if (!core().getUnreadCount().conversations[id]) return;
    core().markRead({ conversationId: id }, function () { renderBadge(); });
  }

  // ------------------------------------------------------------------ pre-chat form
  //
  // The brand's questions (settings.preChatForm, each with the input its attribute's
  // type calls for), shown with a new conversation's composer; the answers go with
  // the first message in the one request that creates the conversation. Checked
  // here by the server's rules; what the server still refuses is shown on its field.

  // The brand's questions, unless the page opted out (start's klatch.preChatForm).
  function formQuestions() {
    var klatch = state.options.klatch;
    if (klatch && klatch.preChatForm === false) return [];
    var form = settings().preChatForm;
    return form && Array.isArray(form.questions) ? form.questions : [];
  }

  function formShown() {
    return Boolean(ui && state.form && state.form.length && state.view === 'thread' &&
      state.conversationId === null);
  }

  // What the page set for the next conversation: describeConversation without an
  // id, then createConversation's customAttributes.
  function pageAttributes() {
    return Object.assign({}, state.pending, shared().isObject(state.draft) ? state.draft : {});
  }

  function newConversationBody(text, answers) {
    var body = { message: text };
    var custom = pageAttributes();
    if (Object.keys(custom).length) body.custom = custom;
    if (answers) body.preChatForm = answers;
    return body;
  }

  function buildForm() {
    ui.prechat.textContent = '';
    state.form = formQuestions().map(buildField);
    if (!state.form.length) return;
    ui.prechat.appendChild(el(ui.doc, 'p', {
      className: 'intro', text: 'A few questions first, then write your message below.'
    }));
    var given = pageAttributes();
    state.form.forEach(function (field) {
      ui.prechat.appendChild(field.node);
      if (field.question.klass === 'conversation') setField(field, given[field.question.attribute]);
    });
  }

  function buildField(question, index) {
    var doc = ui.doc;
    var id = 'klatch-q' + index;
    var field = { question: question, dirty: false };
    field.error = el(doc, 'p', { className: 'err', id: id + '-error' });
    var name = [doc.createTextNode(question.label),
      question.required ? null : el(doc, 'span', { className: 'opt', text: ' (optional)' })];
    var touched = function () { field.dirty = true; showFieldError(field, ''); };
    if (question.input === 'bool') {
      field.radios = ['Yes', 'No'].map(function (word) {
        var value = word === 'Yes' ? 'true' : 'false';
        return el(doc, 'input', { type: 'radio', name: id, value: value, onchange: touched });
      });
      field.target = el(doc, 'div', {
        className: 'choices', role: 'radiogroup', 'aria-labelledby': id + '-legend',
        'aria-describedby': id + '-error', 'aria-required': question.required ? 'true' : null
      }, field.radios.map(function (radio, i) {
        return el(doc, 'label', {}, [radio, doc.createTextNode(i ? 'No' : 'Yes')]);
      }));
      field.focusable = field.radios[0];
      field.node = el(doc, 'fieldset', { className: 'q' }, [
        el(doc, 'legend', { id: id + '-legend' }, name), field.target, field.error]);
      return field;
    }
    field.target = field.focusable = fieldInput(doc, question, id, touched);
    field.node = el(doc, 'div', { className: 'q' }, [
      el(doc, 'label', { for: id }, name), field.target, field.error]);
    return field;
  }

  function fieldInput(doc, question, id, touched) {
    var common = { id: id, 'aria-describedby': id + '-error', oninput: touched,
      onchange: touched, 'aria-required': question.required ? 'true' : null };
    if (question.input === 'choice') {
      return el(doc, 'select', common, [el(doc, 'option', { value: '', text: 'Choose…' })]
        .concat((question.choices || []).map(function (choice) {
          return el(doc, 'option', { value: choice.value, text: choice.label });
        })));
    }
    if (question.input === 'textarea') {
      return el(doc, 'textarea', Object.assign(common, { rows: '3' }));
    }
    var types = { url: 'url', datetime: 'datetime-local' };
    return el(doc, 'input', Object.assign(common, {
      type: types[question.input] || 'text', autocomplete: 'off',
      inputmode: question.input === 'number' ? 'decimal' : null,
      maxlength: question.input === 'text' || question.input === 'url'
        ? String(question.maxLength) : null
    }));
  }

  // A value the page gave for the field's attribute, as the field shows it.
  function setField(field, value) {
    if (value === undefined || value === null || field.dirty) return;
    if (field.radios) {
      field.radios.forEach(function (radio) { radio.checked = radio.value === String(value); });
    } else if (field.question.input === 'datetime') {
      var when = new Date(value);
      if (isNaN(when.getTime())) return;
      var local = new Date(when.getTime() - when.getTimezoneOffset() * 60000);
      field.target.value = local.toISOString().slice(0, 16);
    } else {
      field.target.value = String(value);
    }
  }

  // {value} (absent when unanswered) or {error}: the server's rules for the type.
  function readField(field) {
    var q = field.question;
    var blank = q.required ? { error: 'This question needs an answer.' } : {};
    if (field.radios) {
      var on = field.radios.filter(function (radio) { return radio.checked; })[0];
      return on ? { value: on.value === 'true' } : blank;
    }
    var raw = field.target.value;
    if (!raw.trim()) return blank;
    if (q.input === 'number') return readNumber(raw.trim());
    if (q.input === 'datetime') {
      var when = new Date(raw);
      return isNaN(when.getTime()) ? { error: 'Enter a date and time.' }
        : { value: when.toISOString() };
    }
    if (q.input === 'url' && !isHttpUrl(raw.trim())) {
      return { error: 'Enter a web address starting with http:// or https://.' };
    }
    if (q.input === 'choice' && !(q.choices || []).some(function (c) { return c.value === raw; })) {
      return { error: 'Choose one of the answers.' };
    }
    var size = q.input === 'textarea' ? new TextEncoder().encode(raw).length : raw.length;
    if (q.maxLength && size > q.maxLength) {
      return { error: 'At most ' + q.maxLength +
        (q.input === 'textarea' ? ' bytes.' : ' characters.') };
    }
    return { value: q.input === 'url' ? raw.trim() : raw };
  }

  function readNumber(text) {
    var number = Number(text);
    if (!NUMBER_RE.test(text) || !isFinite(number)) {
      return { error: 'Enter a number, such as 3 or 2.5.' };
    }
    if (Number.isInteger(number) && Math.abs(number) > MAX_EXACT_INTEGER) {
      return { error: 'Enter a number between -2^53 and 2^53.' };
    }
    return { value: number };
  }

  function isHttpUrl(text) {
    if (/\s/.test(text)) return false;
    try {
      var url = new URL(text);
      return (url.protocol === 'http:' || url.protocol === 'https:') && Boolean(url.hostname);
    } catch (e) { return false; }
  }

  // {conversation: {...}, customer: {...}} of the answered questions, or false
  // (each field in error says why, the first has the focus).
  function formAnswers() {
    var answers = { conversation: {}, customer: {} };
    var first = null;
    state.form.forEach(function (field) {
      var result = readField(field);
      showFieldError(field, result.error || '');
      if (result.error && !first) first = field;
      if (result.value !== undefined) {
        answers[field.question.klass][field.question.attribute] = result.value;
      }
    });
    if (first) first.focusable.focus();
    return first ? false : answers;
  }

  function showFieldError(field, message) {
    field.error.textContent = message;
    if (message) field.target.setAttribute('aria-invalid', 'true');
    else field.target.removeAttribute('aria-invalid');
  }

  // The server's refusals of answers (details pointing at /preChatForm/<klass>/<name>)
  // on their fields; whether there was any.
  function showServerErrors(error) {
    var first = null;
    (error.details || []).forEach(function (detail) {
      var found = /^\/preChatForm\/(conversation|customer)\/(.+)$/.exec(detail.pointer || '');
      var field = found && (state.form || []).filter(function (f) {
        return f.question.klass === found[1] && f.question.attribute === found[2];
      })[0];
      if (!field) return;
      showFieldError(field, detail.message);
      first = first || field;
    });
    if (first) first.focusable.focus();
    return Boolean(first);
  }

  // describeConversation without a conversationId, while no conversation is shown:
  // kept for the next conversation the widget creates (and shown in its form).
  function describePending(options, callback) {
    if (!shared().isObject(options.customAttributes)) {
      answer(callback, null, invalid('describeConversation',
        'options.customAttributes must be an object of attribute names and values'));
      return;
    }
    Object.keys(options.customAttributes).forEach(function (name) {
      var value = options.customAttributes[name];
      if (value === null) delete state.pending[name]; else state.pending[name] = value;
    });
    (state.form || []).forEach(function (field) {
      if (field.question.klass === 'conversation') {
        setField(field, options.customAttributes[field.question.attribute]);
      }
    });
    answer(callback, { conversationId: null, custom: Object.assign({}, state.pending) });
  }

  // ------------------------------------------------------------------ composer

  function sendFromComposer() {
    if (state.sending || ui.textarea.disabled) return;
    var shown = ui;  // stop() may remove the UI while the send is on its way
    var text = ui.textarea.value;
    if (!text.trim()) return;
    var draft = state.conversationId === null;
    // The form's answers, checked as the server will; a field in error stops here.
    var answers = draft && formShown() ? formAnswers() : null;
    if (answers === false) {
      ui.alert.textContent = 'Not sent: please check the answers above.';
      return;
    }
    state.sending = true;
    ui.send.disabled = true;
    ui.alert.textContent = '';
    var onField = false;  // the server refused answers: the focus is on the first
    var sent = draft
      ? shared().createConversation(newConversationBody(text, answers)).then(function (conversation) {
        if (ui !== shown) return undefined;
        state.conversationId = conversation.conversationId;
        state.draft = null;
        state.pending = {};
        state.form = null;
        saveUiState();
        // Sent, whether or not the thread loads: the composer empties either way.
        return showThread(conversation.conversationId).catch(alertShown);
      })
      : promised('sendMessage', { conversationId: state.conversationId, body: text })
        .then(function (message) { appendMessage(message); });
    sent.then(function () {
      if (ui !== shown) return;
      ui.textarea.value = '';
      stopTyping();
    }, function (error) {
      if (ui !== shown) return;
      onField = Boolean(answers) && showServerErrors(error);
      ui.alert.textContent = onField
        ? 'Not sent: please check the answers above.' : 'Not sent: ' + error.message;
    }).then(function () {
      state.sending = false;
      if (ui !== shown) return;
      ui.send.disabled = false;
      if (!onField) ui.textarea.focus();
    });
  }

  function typingFromComposer() {
    if (state.conversationId === null) return;
    if (!state.typingSent && ui.textarea.value.trim()) {
      state.typingSent = true;
      core().sendTypingActivity({ conversationId: state.conversationId, typing: true },
        function () {});
    }
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    clearTimeout(state.typingTimer);
    if (!state.typingSent || state.conversationId === null) return;
    state.typingSent = false;
    core().sendTypingActivity({ conversationId: state.conversationId, typing: false },
      function () {});
  }

  // ------------------------------------------------------------------ core events

  var onCore = {
    onMessageReceived: function (message) {
      appendMessage(message);
      if (message.conversationId === state.conversationId) clearAgentTyping();
      if (state.view === 'list' && state.open) refreshList();
    },
    onMessageSent: function (message) { appendMessage(message); },
    onConversationCreate: function (conversation) {
      var known = state.conversations.some(function (c) {
        return c.conversationId === conversation.conversationId;
      });
      if (!known) state.conversations = [conversation].concat(state.conversations);
      if (state.view === 'list' && state.open) refreshList(); else renderChrome();
    },
    onConversationEnded: function (event) {
      state.ended[event.conversationId] = true;
      // An agent who ends the conversation is not typing in it any more.
      if (event.conversationId === state.conversationId) clearAgentTyping();
      renderChrome();
      if (state.view === 'list' && state.open) renderList();
    },
    onConversationUnended: function (event) {
      state.ended[event.conversationId] = false;
      renderChrome();
      if (state.view === 'list' && state.open) renderList();
    },
    onAgentTypingActivity: function (event) {
      if (!ui || event.conversationId !== state.conversationId) return;
      clearAgentTyping();
      if (!event.typing || state.ended[event.conversationId]) return;
      ui.typing.textContent = ((event.user && event.user.displayName) || 'An agent') +
        ' is typing…';
      state.agentTypingTimer = setTimeout(clearAgentTyping, AGENT_TYPING_TIMEOUT_MS);
    },
    onUnread: function (event) {
      // A message arriving in the thread the customer is looking at is read at once.
      if (event.change.count > 0 && event.change.conversationId === state.conversationId) {
        markShownRead();
      }
      renderBadge();
      if (state.view === 'list' && state.open) renderList();
    },
    onLogin: function () {
      if (state.view === 'list') refreshList(); else if (state.conversationId) {
        showThread(state.conversationId).catch(alertShown);
      }
    },
    onLogout: function () {
      state.conversations = [];
      state.pending = {};
      state.ended = {};
      if (state.open) showDraft(null); else { state.view = 'list'; state.conversationId = null; }
      renderList();
      renderBadge();
      saveUiState();
    }
  };

  function subscribeCore() {
    CORE_EVENTS.forEach(function (name) {
      coreHandlers[name] = function (payload) {
        if (onCore[name]) {
          try { onCore[name](payload); } catch (e) { console.error('[Klatch] widget:', e); }
        }
        emit(name, payload);
      };
      core().addListener(name, coreHandlers[name]);
    });
  }

  // ------------------------------------------------------------------ the API

  // Runs before core.js has arrived, so it cannot use core's isObject.
  function checkStartOptions(options) {
    if (typeof options !== 'object' || Array.isArray(options)) return 'options must be an object';
    Object.keys(options).forEach(function (name) {
      if (START_OPTIONS.indexOf(name) < 0) {
        console.warn('[Klatch] Kustomer.start: unknown option "' + name + '" ignored');
      }
    });
    if (options.brandId !== undefined && (typeof options.brandId !== 'string' ||
        !options.brandId)) return 'options.brandId must be a non-empty string';
    if (options.hideChatIcon !== undefined && typeof options.hideChatIcon !== 'boolean') {
      return 'options.hideChatIcon must be true or false';
    }
    if (options.klatch !== undefined && (typeof options.klatch !== 'object' ||
        options.klatch === null || Array.isArray(options.klatch) ||
        (options.klatch.preChatForm !== undefined &&
         typeof options.klatch.preChatForm !== 'boolean'))) {
      return 'options.klatch must be an object such as { preChatForm: false }';
    }
    var strings = ['lang', 'assistantId', 'scheduleId', 'preferredView'];
    for (var i = 0; i < strings.length; i++) {
      if (options[strings[i]] !== undefined && typeof options[strings[i]] !== 'string') {
        return 'options.' + strings[i] + ' must be a string';
      }
    }
    return null;
  }

  // As Kustomer's: start calls back with no arguments once started.
  function startCallback(callback) {
    return function (error) {
      callBack(callback, error ? [null, error] : [],
        error ? 'Kustomer.start failed: ' + error.message : null);
    };
  }

  var Kustomer = {
    __klatch: true,

    start: function (options, callback) {
      if (typeof options === 'function') { callback = options; options = {}; }
      if (options === undefined || options === null) options = {};
      var done = startCallback(callback);
      var problem = checkStartOptions(options);
      if (problem) { done(invalid('start', problem)); return; }
      if (!apiKey) {
        done(invalid('start', 'the widget.js script tag needs data-kustomer-api-key'));
        return;
      }
      if (!state.starting) {
        state.options = Object.assign({}, options);
        state.starting = Promise.all([loadCore(), bodyReady()]).then(function () {
          shared().useLabel('Kustomer');
          var init = {};
          ['brandId', 'assistantId', 'scheduleId', 'lang'].forEach(function (name) {
            if (options[name] !== undefined) init[name] = options[name];
          });
          return promised('init', init);
        }).then(function () {
          subscribeCore();
          buildUi();
          state.started = true;
          var saved = readUiState();
          var restored = saved.conversationId
            ? showThread(saved.conversationId).catch(function () { return showList(); })
            : Promise.resolve();
          // A reload shows the widget as it was, without taking the page's focus.
          return restored.then(function () { if (saved.open) return openPanel(true); });
        });
        state.starting.catch(function () { state.starting = null; });
      }
      state.starting.then(function () { done(); }, function (error) { done(error); });
    },

    stop: function (callback) {
      if (!state.started && !state.starting) { answer(callback, null); return; }
      var finish = function () {
        if (core()) {
          CORE_EVENTS.forEach(function (name) {
            if (coreHandlers[name]) core().removeListener(name, coreHandlers[name]);
          });
          core().stop();
        }
        clearTimeout(state.typingTimer);
        clearTimeout(state.agentTypingTimer);
        if (ui && ui.screen) ui.screen.removeEventListener('change', ui.onScreen);
        if (ui) ui.frame.remove();
        ui = null;
        listeners = {};
        coreHandlers = {};
        state.started = false;
        state.starting = null;
        state.open = false;
        state.view = 'list';
        state.conversationId = null;
        state.conversations = [];
        state.pending = {};
        state.form = null;
        answer(callback, null);
      };
      // A start still on its way finishes first, so stop leaves nothing behind.
      (state.starting || Promise.resolve()).then(finish, finish);
    },

    open: function (callback) {
      if (!guard('open', callback)) return;
      openPanel().then(function () { answer(callback, null); });
    },

    close: function (callback) {
      if (!guard('close', callback)) return;
      closePanel();
      answer(callback, null);
    },

    login: function (options, callback) {
      if (!guard('login', callback)) return;
      core().login(options, callback);
    },

    logout: function (callback) {
      if (!guard('logout', callback)) return;
      core().logout(callback);
    },

    isLoggedIn: function (options, callback) {
      if (!guard('isLoggedIn', callback)) return;
      core().isLoggedIn(options, callback);
    },

    describeCustomer: function (options, callback) {
      if (!guard('describeCustomer', callback)) return;
      core().describeCustomer(options, callback);
    },

    describeConversation: function (options, callback) {
      if (!guard('describeConversation', callback)) return;
      if (shared().isObject(options) && options.conversationId === undefined &&
          state.conversationId === null) {
        describePending(options, callback);
        return;
      }
      core().describeConversation(options, callback);
    },

    addListener: function (event, fn) {
      if (typeof event !== 'string' || typeof fn !== 'function') {
        console.warn('[Klatch] Kustomer.addListener(eventName, function) expected');
        return;
      }
      (listeners[event] = listeners[event] || []).push(fn);
    },

    removeListener: function (event, fn) {
      if (!listeners[event]) return;
      listeners[event] = listeners[event].filter(function (f) { return f !== fn; });
    },

    isChatAvailable: function (callback) {
      var result = state.started ? core().isChatAvailable() : { availability: 'none' };
      if (!state.started) {
        console.warn('[Klatch] Kustomer.isChatAvailable was called before Kustomer.start() ' +
          'finished; it answers "none" until then.');
      }
      if (typeof callback === 'function') answer(callback, result);
      return result;
    },

    createConversation: function (options, callback) {
      if (typeof options === 'function') { callback = options; options = {}; }
      if (!guard('createConversation', callback)) return;
      if (options === undefined || options === null) options = {};
      if (!shared().isObject(options)) {
        answer(callback, null, invalid('createConversation', 'options must be an object'));
        return;
      }
      if (options.message !== undefined && (typeof options.message !== 'string' ||
          !options.message.trim())) {
        answer(callback, null, invalid('createConversation',
          'options.message must be non-empty text'));
        return;
      }
      if (options.customAttributes !== undefined &&
          !shared().isObject(options.customAttributes)) {
        answer(callback, null, invalid('createConversation',
          'options.customAttributes must be an object of attribute names and values'));
        return;
      }
      if (options.assistantId !== undefined && typeof options.assistantId !== 'string') {
        answer(callback, null, invalid('createConversation', 'options.assistantId must be a string'));
        return;
      }
      if (options.message === undefined) {
        // As Kustomer: the thread opens, and the conversation is created when the
        // customer sends the first message (with these custom attributes).
        showDraft(options.customAttributes);
        openPanel().then(function () { answer(callback, null); });
        return;
      }
      // Created, then shown: a thread that cannot load is an error for the callback too.
      var custom = Object.assign({}, state.pending, options.customAttributes);
      shared().call('createConversation', callback, promised('createConversation', {
        message: options.message,
        customAttributes: Object.keys(custom).length ? custom : undefined
      }).then(function (conversation) {
        state.pending = {};
        return showThread(conversation.conversationId)
          .then(function () { return openPanel(); })
          .then(function () { return conversation; });
      }));
    },

    openConversationById: function (options, callback) {
      if (!guard('openConversationById', callback) ||
          !shared().needId('openConversationById', options, callback)) return;
      var id = options.conversationId;
      shared().call('openConversationById', callback,
        promised('getConversation', { conversationId: id })
          .then(function () { return showThread(id); })
          .then(function () { return openPanel(); })
          .then(function () { return null; }));
    },

    getOpenConversations: function (callback) {
      if (!guard('getOpenConversations', callback)) return;
      if (typeof callback !== 'function') {
        console.warn('[Klatch] Kustomer.getOpenConversations(callback): a callback is required');
        return;
      }
      shared().call('getOpenConversations', callback,
        promised('getConversations', { pageSize: 100 }), function (result) {
          return result.conversations.filter(function (c) { return !c.ended; });
        });
    },

    getUnreadCount: function () {
      if (!state.started) {
        console.warn('[Klatch] Kustomer.getUnreadCount was called before Kustomer.start() ' +
          'finished; it answers 0 until then.');
        return { total: 0, conversations: {} };
      }
      return core().getUnreadCount();
    }
  };

  ['openKbArticle', 'openKbCategory', 'openKbSearch'].forEach(function (name) {
    Kustomer[name] = function (id, callback) {
      if (typeof id === 'function') callback = id;
      answer(callback, null, sdkError('not_supported',
        'Kustomer.' + name + ' is not supported by Klatch (it has no knowledge base)'));
    };
  });

  window.Kustomer = Kustomer;
  if (!apiKey) {
    console.warn('[Klatch] widget.js: add data-kustomer-api-key="<tracking key>" to its script tag');
  }
  window.dispatchEvent(new Event('kustomerLoaded'));
})();

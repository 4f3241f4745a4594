/*
 * Klatch core.js: the headless chat SDK, compatible with Kustomer Core
 * (window.KustomerCore). Load it exactly as Kustomer's:
 *
 *   <script src="https://YOUR-KLATCH/chat-web/core.js" data-kustomer-api-key="kt_..."></script>
 *
 * Every method takes (options, callback); callbacks are called as
 * callback(response, error) where error is undefined or a native Error with a
 * stable `code` (server codes such as `unknown_attribute`, and `not_initialized`,
 * `invalid_arguments`, `network_error`). Plain modern JavaScript, no dependencies.
 */
(function () {
  'use strict';

  if (window.KustomerCore && window.KustomerCore.__klatch) return;

  var script = document.currentScript ||
    document.querySelector('script[src*="/chat-web/core.js"]');
  var apiKey = script ? script.getAttribute('data-kustomer-api-key') : null;
  var base = script ? script.src.replace(/\/chat-web\/core\.js(\?.*)?$/, '') : '';
  var storageKey = 'klatch.session.' + (apiKey || '');
  // The name errors and warnings use: widget.js drives this core and says 'Kustomer'.
  var label = 'KustomerCore';

  // ------------------------------------------------------------------ helpers

  function sdkError(code, message, extra) {
    var error = new Error(message);
    error.code = code;
    if (extra) Object.keys(extra).forEach(function (k) { error[k] = extra[k]; });
    return error;
  }

  function invalid(method, message) {
    return sdkError('invalid_arguments', label + '.' + method + ': ' + message);
  }

  function answer(callback, response, error) {
    if (typeof callback !== 'function') {
      if (error) console.warn('[Klatch] ' + error.message);
      return;
    }
    try {
      if (error) callback(null, error); else callback(response, undefined);
    } catch (thrown) {
      console.error('[Klatch] a callback threw:', thrown);
    }
  }

  function isObject(value) {
    return value !== null && typeof value === 'object' && !Array.isArray(value);
  }

  function readToken() {
    try { return window.localStorage.getItem(storageKey); } catch (e) { return null; }
  }

  function writeToken(token) {
    try {
      if (token) window.localStorage.setItem(storageKey, token);
      else window.localStorage.removeItem(storageKey);
    } catch (e) { /* storage may be disabled: the session then lasts one page */ }
  }

  function serverError(status, body) {
    var errors = body && Array.isArray(body.errors) ? body.errors : [];
    var first = errors[0] || {};
    return sdkError(first.code || 'http_' + status, first.detail || first.title ||
      'The chat server answered ' + status, {
      status: status,
      title: first.title,
      detail: first.detail,
      source: first.source,
      details: errors.map(function (e) {
        return {
          attribute: e.meta && e.meta.attribute, code: e.code, message: e.detail,
          pointer: e.source && e.source.pointer
        };
      })
    });
  }

  // ------------------------------------------------------------------ state

  var state = {
    ready: false,
    starting: null,
    token: readToken(),
    customerId: null,
    brandId: null,
    settings: null,
    availability: 'none',
    unread: {},
    lastEventId: null,
    socket: null,
    reconnectDelay: 500,
    reconnectTimer: null,
    stopped: false,
    seenMessages: {},
    createdConversations: {}
  };
  var listeners = {};

  // Calls each listener of `event` in `table` (an object of arrays, as `listeners`);
  // one that throws is reported and the others still run. widget.js calls it on its
  // own table (see _internal below).
  function notify(table, event, payload) {
    (table[event] || []).slice().forEach(function (fn) {
      try { fn(payload, undefined); } catch (thrown) {
        console.error('[Klatch] a listener for ' + event + ' threw:', thrown);
      }
    });
  }

  function emit(event, payload) {
    notify(listeners, event, payload);
  }

  function request(method, path, body) {
    if (!apiKey) {
      return Promise.reject(sdkError('invalid_arguments',
        'The core.js script tag needs data-kustomer-api-key'));
    }
    var headers = { Authorization: 'Bearer ' + apiKey };
    if (state.token) headers['X-Klatch-Session'] = state.token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    return fetch(base + '/c/v1' + path, {
      method: method, headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      if (response.status === 204) return null;
      return response.json().catch(function () { return null; }).then(function (data) {
        if (!response.ok) throw serverError(response.status, data);
        return data;
      });
    }, function (failure) {
      throw sdkError('network_error', 'The chat server could not be reached: ' + failure.message);
    });
  }

  function messageView(m) {
    return {
      messageId: m.messageId || m.id,
      body: m.body,
      payload: m.payload || null,
      createdAt: m.createdAt,
      direction: m.direction,
      conversationId: m.conversationId,
      attachments: m.attachments || [],
      meta: m.meta || {},
      sentBy: {
        type: m.sentBy && m.sentBy.type,
        id: m.sentBy && m.sentBy.id,
        displayName: m.sentBy && m.sentBy.displayName,
        avatarUrl: (m.sentBy && m.sentBy.avatarUrl) || null
      }
    };
  }

  function conversationView(c) {
    return {
      conversationId: c.conversationId || c.id,
      createdAt: c.createdAt,
      ended: Boolean(c.ended),
      isInAssistantMode: Boolean(c.isInAssistantMode),
      lastMessageAt: c.lastMessageAt || null,
      preview: c.preview || null,
      title: c.title || null,
      custom: c.custom || {}
    };
  }

  function unreadCount() {
    var total = 0;
    var conversations = {};
    Object.keys(state.unread).forEach(function (id) {
      if (state.unread[id] > 0) { conversations[id] = state.unread[id]; total += state.unread[id]; }
    });
    return { total: total, conversations: conversations };
  }

  function setUnread(conversationId, count) {
    if ((state.unread[conversationId] || 0) === count) return;
    state.unread[conversationId] = count;
    var counts = unreadCount();
    emit('onUnread', {
      total: counts.total,
      conversations: counts.conversations,
      change: { conversationId: conversationId, count: count }
    });
  }

  function announceConversation(view) {
    if (state.createdConversations[view.conversationId]) return;
    state.createdConversations[view.conversationId] = true;
    emit('onConversationCreate', view);
  }

  // ------------------------------------------------------------------ realtime

  function connect() {
    if (state.stopped || !state.token || state.socket) return;
    var url = base.replace(/^http/, 'ws') + '/c/v1/realtime?key=' + encodeURIComponent(apiKey) +
      '&session=' + encodeURIComponent(state.token) +
      (state.lastEventId !== null ? '&after=' + state.lastEventId : '');
    var socket;
    try { socket = new WebSocket(url); } catch (e) { scheduleReconnect(); return; }
    state.socket = socket;
    socket.onmessage = function (message) {
      var frame;
      try { frame = JSON.parse(message.data); } catch (e) { return; }
      if (frame.op === 'hello') {
        state.reconnectDelay = 500;
        if (state.lastEventId === null) state.lastEventId = frame.lastEventId;
      } else if (frame.op === 'event') {
        if (frame.id !== null) {
          if (state.lastEventId !== null && frame.id <= state.lastEventId) return;
          state.lastEventId = frame.id;
        }
        dispatch(frame.type, frame.data || {});
      } else if (frame.op === 'resync') {
        state.lastEventId = frame.lastEventId;
        refreshUnread();
      }
    };
    socket.onclose = function (closed) {
      state.socket = null;
      if (closed.code === 4401 || closed.code === 4403) {
        console.warn('[Klatch] realtime refused: ' + (closed.reason || closed.code));
        return;
      }
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    if (state.stopped || state.reconnectTimer) return;
    var delay = state.reconnectDelay * (0.5 + Math.random() / 2);
    state.reconnectDelay = Math.min(state.reconnectDelay * 2, 10000);
    state.reconnectTimer = setTimeout(function () {
      state.reconnectTimer = null;
      connect();
    }, delay);
  }

  function disconnect() {
    if (state.reconnectTimer) { clearTimeout(state.reconnectTimer); state.reconnectTimer = null; }
    if (state.socket) {
      state.socket.onclose = null;
      state.socket.close(1000);
      state.socket = null;
    }
  }

  function dispatch(type, data) {
    if (type === 'message.created') {
      var message = messageView(data.message);
      if (state.seenMessages[message.messageId]) return;
      state.seenMessages[message.messageId] = true;
      if (message.direction === 'out') {
        emit('onMessageReceived', message);
        setUnread(message.conversationId, (state.unread[message.conversationId] || 0) + 1);
      } else {
        emit('onMessageSent', message);
      }
    } else if (type === 'conversation.created') {
      announceConversation(conversationView(data.conversation));
    } else if (type === 'conversation.ended') {
      emit('onConversationEnded', {
        conversationId: data.conversationId, createdAt: data.createdAt, ended: true
      });
    } else if (type === 'conversation.updated') {
      var status = data.changes && data.changes.status;
      if (status && status.before === 'done' && status.after === 'open') {
        emit('onConversationUnended', {
          conversationId: data.conversationId, createdAt: null, ended: false
        });
      }
    } else if (type === 'typing.started' || type === 'typing.stopped') {
      if (data.sentBy && data.sentBy.type === 'customer') return;
      emit('onAgentTypingActivity', {
        conversationId: data.conversationId,
        user: { displayName: data.sentBy && data.sentBy.displayName, avatarUrl: null },
        typing: type === 'typing.started'
      });
    }
  }

  // The counts, and (before a socket is open) where its events start: the org's
  // newest event when the counts were read, so that what happens between the
  // page's reads and the socket's start is sent to it, not lost.
  function refreshUnread() {
    return request('GET', '/unread').then(function (counts) {
      if (!state.socket && state.lastEventId === null && typeof counts.lastEventId === 'number') {
        state.lastEventId = counts.lastEventId;
      }
      state.unread = {};
      Object.keys(counts.conversations || {}).forEach(function (id) {
        state.unread[id] = counts.conversations[id];
      });
    }, function () { /* keep the counts we have */ });
  }

  // ------------------------------------------------------------------ session

  function startSession(brandId) {
    return request('POST', '/sessions', brandId ? { brandId: brandId } : {}).catch(function (error) {
      if (error.code !== 'invalid_session' || !state.token) throw error;
      state.token = null;  // the stored session ended: start a new one
      writeToken(null);
      return request('POST', '/sessions', brandId ? { brandId: brandId } : {});
    }).then(function (started) {
      state.token = started.sessionToken;
      writeToken(started.sessionToken);
      state.customerId = started.customerId;
      state.brandId = started.brandId;
      state.settings = started.settings;
      state.availability = started.availability;
      return started;
    });
  }

  function guard(method, callback) {
    if (state.ready) return true;
    console.warn('[Klatch] ' + label + '.' + method + ' was called before init() finished; ' +
      'call it from the init callback.');
    answer(callback, null, sdkError('not_initialized',
      label + '.' + method + ' needs KustomerCore.init() to have finished'));
    return false;
  }

  function call(method, callback, promise, shape) {
    promise.then(function (result) {
      answer(callback, shape ? shape(result) : result);
    }, function (error) {
      answer(callback, null, error);
    });
  }

  // POST /conversations with `body` as given (widget.js adds a pre-chat form's
  // answers, `preChatForm`), then onConversationCreate: the conversation's view.
  function createOnServer(body) {
    return request('POST', '/conversations', body).then(function (created) {
      var view = conversationView(created);
      if (created.message) state.seenMessages[created.message.messageId] = true;
      announceConversation(view);
      return view;
    });
  }

  function needId(method, options, callback) {
    if (!isObject(options) || typeof options.conversationId !== 'string' ||
        !options.conversationId) {
      answer(callback, null, invalid(method, 'options.conversationId must be a non-empty string'));
      return false;
    }
    return true;
  }

  function path(conversationId) {
    return '/conversations/' + encodeURIComponent(conversationId);
  }

  // ------------------------------------------------------------------ the API

  var Core = {
    __klatch: true,

    init: function (options, callback) {
      if (typeof options === 'function') { callback = options; options = {}; }
      options = options || {};
      if (!isObject(options)) {
        answer(callback, null, invalid('init', 'options must be an object'));
        return;
      }
      if (options.brandId !== undefined && typeof options.brandId !== 'string') {
        answer(callback, null, invalid('init', 'options.brandId must be a string'));
        return;
      }
      if (!state.starting) {
        state.stopped = false;
        state.starting = startSession(options.brandId).then(function () {
          return refreshUnread();
        }).then(function () {
          state.ready = true;
          connect();
          return { settings: state.settings, availability: state.availability };
        });
        state.starting.catch(function () { state.starting = null; });
      }
      call('init', callback, state.starting);
    },

    isChatAvailable: function (callback) {
      var result = { availability: state.ready ? state.availability : 'none' };
      if (typeof callback === 'function') answer(callback, result);
      return result;
    },

    getChatSettings: function (callback) {
      if (!guard('getChatSettings', callback)) return undefined;
      answer(callback, state.settings);
      return state.settings;
    },

    createConversation: function (options, callback) {
      if (typeof options === 'function') { callback = options; options = {}; }
      if (!guard('createConversation', callback)) return;
      options = options || {};
      if (!isObject(options)) {
        answer(callback, null, invalid('createConversation', 'options must be an object'));
        return;
      }
      if (options.title !== undefined && options.title !== null &&
          (typeof options.title !== 'string' || options.title.length > 256)) {
        answer(callback, null, invalid('createConversation',
          'options.title must be a string of at most 256 characters'));
        return;
      }
      var body = {};
      if (options.title) body.title = options.title;
      if (options.message !== undefined) body.message = options.message;
      if (options.customAttributes !== undefined) body.custom = options.customAttributes;
      call('createConversation', callback, createOnServer(body));
    },

    sendMessage: function (options, callback) {
      if (!guard('sendMessage', callback) || !needId('sendMessage', options, callback)) return;
      if (typeof options.body !== 'string' || !options.body.trim()) {
        answer(callback, null, invalid('sendMessage', 'options.body must be non-empty text'));
        return;
      }
      var body = { body: options.body };
      if (options.payload !== undefined) body.payload = options.payload;
      call('sendMessage', callback, request('POST', path(options.conversationId) + '/messages', body)
        .then(function (sent) {
          var message = messageView(sent);
          state.seenMessages[message.messageId] = true;
          emit('onMessageSent', message);
          return message;
        }));
    },

    describeConversation: function (options, callback) {
      if (!guard('describeConversation', callback) ||
          !needId('describeConversation', options, callback)) return;
      if (!isObject(options.customAttributes)) {
        answer(callback, null, invalid('describeConversation',
          'options.customAttributes must be an object of attribute names and values'));
        return;
      }
      call('describeConversation', callback, request('PATCH', path(options.conversationId),
        { custom: options.customAttributes }));
    },

    describeCustomer: function (options, callback) {
      if (!guard('describeCustomer', callback)) return;
      if (!isObject(options) || (options.attributes === undefined &&
          options.customAttributes === undefined)) {
        answer(callback, null, invalid('describeCustomer',
          'options needs attributes and/or customAttributes'));
        return;
      }
      if ((options.attributes !== undefined && !isObject(options.attributes)) ||
          (options.customAttributes !== undefined && !isObject(options.customAttributes))) {
        answer(callback, null, invalid('describeCustomer',
          'attributes and customAttributes must be objects'));
        return;
      }
      var body = {};
      if (options.attributes) body.attributes = options.attributes;
      if (options.customAttributes) body.custom = options.customAttributes;
      call('describeCustomer', callback, request('PATCH', '/customers/current', body));
    },

    endConversation: function (options, callback) {
      if (!guard('endConversation', callback) ||
          !needId('endConversation', options, callback)) return;
      call('endConversation', callback, request('POST', path(options.conversationId) + '/end'));
    },

    sendTypingActivity: function (options, callback) {
      if (!guard('sendTypingActivity', callback) ||
          !needId('sendTypingActivity', options, callback)) return;
      var typing = options.typing === undefined ? true : options.typing;
      if (typeof typing !== 'boolean') {
        answer(callback, null, invalid('sendTypingActivity', 'options.typing must be a boolean'));
        return;
      }
      call('sendTypingActivity', callback,
        request('POST', path(options.conversationId) + '/typing', { typing: typing }),
        function () { return { conversationId: options.conversationId, typing: typing }; });
    },

    getConversations: function (options, callback) {
      if (typeof options === 'function') { callback = options; options = {}; }
      if (!guard('getConversations', callback)) return;
      options = options || {};
      var page = options.page || 1;
      var pageSize = options.pageSize || 100;
      if (!Number.isInteger(page) || !Number.isInteger(pageSize) || page < 1 ||
          pageSize < 1 || pageSize > 100) {
        answer(callback, null, invalid('getConversations',
          'page starts at 1 and pageSize is 1 to 100'));
        return;
      }
      call('getConversations', callback,
        request('GET', '/conversations?page=' + page + '&pageSize=' + pageSize),
        function (result) {
          return {
            conversations: result.conversations.map(conversationView),
            pages: result.pages
          };
        });
    },

    getConversation: function (options, callback) {
      if (!guard('getConversation', callback) ||
          !needId('getConversation', options, callback)) return;
      call('getConversation', callback, request('GET', path(options.conversationId)),
        conversationView);
    },

    getMessages: function (options, callback) {
      if (!guard('getMessages', callback) || !needId('getMessages', options, callback)) return;
      var page = options.page === undefined ? 1 : options.page;
      var pageSize = options.pageSize === undefined ? 100 : options.pageSize;
      if (!Number.isInteger(page) || !Number.isInteger(pageSize) || page < 1 ||
          pageSize < 1 || pageSize > 100) {
        answer(callback, null, invalid('getMessages', 'page starts at 1 and pageSize is 1 to 100'));
        return;
      }
      call('getMessages', callback, request('GET', path(options.conversationId) +
        '/messages?page=' + page + '&pageSize=' + pageSize),
        function (result) {
          return {
            conversationId: result.conversationId,
            messages: result.messages.map(messageView),
            pages: result.pages
          };
        });
    },

    markRead: function (options, callback) {
      if (!guard('markRead', callback) || !needId('markRead', options, callback)) return;
      call('markRead', callback, request('POST', path(options.conversationId) + '/read')
        .then(function (result) {
          setUnread(options.conversationId, 0);
          return result;
        }));
    },

    getUnreadCount: function () {
      return unreadCount();
    },

    login: function (options, callback) {
      if (!guard('login', callback)) return;
      if (!isObject(options) || typeof options.jwtToken !== 'string' || !options.jwtToken) {
        answer(callback, null, invalid('login', 'options.jwtToken must be a signed JWT string'));
        return;
      }
      call('login', callback, request('POST', '/login', { jwtToken: options.jwtToken })
        .then(function (result) {
          state.customerId = result.customerId;
          disconnect();  // the socket follows the verified customer now
          state.lastEventId = null;
          return refreshUnread().then(function () {
            connect();
            emit('onLogin', result);
            return result;
          });
        }));
    },

    isLoggedIn: function (options, callback) {
      if (!guard('isLoggedIn', callback)) return;
      if (!isObject(options) || (typeof options.email !== 'string' &&
          typeof options.externalId !== 'string')) {
        answer(callback, null, invalid('isLoggedIn', 'options needs an email or an externalId'));
        return;
      }
      call('isLoggedIn', callback, request('GET', '/customers/current'), function (customer) {
        if (!customer.identified) return false;
        // As Kustomer: the email decides when both are given.
        if (typeof options.email === 'string') {
          return (customer.email || '').toLowerCase() === options.email.trim().toLowerCase();
        }
        return customer.externalId === options.externalId;
      });
    },

    logout: function (callback) {
      if (!guard('logout', callback)) return;
      call('logout', callback, request('POST', '/logout').then(function () {
        disconnect();
        state.token = null;
        writeToken(null);
        state.unread = {};
        state.lastEventId = null;
        state.seenMessages = {};
        state.createdConversations = {};
        return startSession(state.brandId).then(function () {
          connect();
          emit('onLogout', null);
          return { loggedOut: true };
        });
      }));
    },

    addListener: function (event, fn) {
      if (typeof event !== 'string' || typeof fn !== 'function') {
        console.warn('[Klatch] ' + label + '.addListener(eventName, function) expected');
        return;
      }
      (listeners[event] = listeners[event] || []).push(fn);
    },

    removeListener: function (event, fn) {
      if (!listeners[event]) return;
      listeners[event] = listeners[event].filter(function (f) { return f !== fn; });
    },

    stop: function (callback) {
      state.stopped = true;
      state.ready = false;
      state.starting = null;
      disconnect();
      listeners = {};
      answer(callback, null);
    },

    // Not part of Kustomer's API: what a page may need to debug its integration.
    _klatch: {
      base: base,
      useLabel: function (name) { label = name; },
      session: function () {
        return { customerId: state.customerId, brandId: state.brandId, ready: state.ready };
      }
    }
  };

  ['submitSatisfactionForm', 'getArticles', 'getArticle', 'getCategories', 'searchArticles']
    .forEach(function (name) {
      Core[name] = function (options, callback) {
        if (typeof options === 'function') callback = options;
        answer(callback, null, sdkError('not_supported',
          'KustomerCore.' + name + ' is not supported by Klatch'));
      };
    });

  // widget.js is built on this core and uses these helpers instead of copying them.
  // They are not an API: one non-enumerable, frozen property (Object.keys, for...in
  // and JSON do not show it; klatch.d.ts does not declare it), free to change with
  // widget.js, which is always served beside this file and loads it from there.
  // (widget.js keeps its own copies of only what it must answer before this file
  // has arrived: start's argument errors, not_initialized, addListener/removeListener.)
  Object.defineProperty(Core, '_internal', {
    value: Object.freeze({
      isObject: isObject,
      notify: notify,
      call: call,
      needId: needId,
      createConversation: createOnServer,
      useLabel: Core._klatch.useLabel,
      ready: function () { return state.ready; }
    })
  });

  window.KustomerCore = Core;
  if (!apiKey) {
    console.warn('[Klatch] core.js: add data-kustomer-api-key="<tracking key>" to its script tag');
  }
  window.dispatchEvent(new Event('kustomerCoreLoaded'));
})();

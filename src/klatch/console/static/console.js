/* Klatch console: live updates over the agent WebSocket and in-place forms.
 * Pages work without it; with it, the inbox and the conversation update live.
 * Server-rendered fragments are inserted as they come (Jinja escapes every
 * value); anything built here uses textContent. */
(function () {
  'use strict';

  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.content : '';

  function send(url, body, contentType) {
    var headers = { 'X-Requested-With': 'fetch', 'X-CSRF-Token': csrf };
    if (contentType) headers['Content-Type'] = contentType;
    return fetch(url, { method: 'POST', headers: headers, body: body, credentials: 'same-origin' });
  }

  function live(onEvent) {
    var delay = 500;
    var first = true;
    function connect() {
      var scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
      var socket = new WebSocket(scheme + location.host + '/v1/realtime');
      socket.onmessage = function (message) {
        var frame;
        try { frame = JSON.parse(message.data); } catch (e) { return; }
        if (frame.op === 'hello') {
          delay = 500;
          if (!first) onEvent(null);  // reconnected: what happened meanwhile is re-read
          first = false;
        } else if (frame.op === 'event') {
          onEvent(frame);
        }
      };
      socket.onclose = function (closed) {
        if (closed.code === 4401) return;  // logged out
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 10000);
      };
    }
    connect();
  }

  function refresher(element, url, ready) {
    var timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch(url(), { credentials: 'same-origin' }).then(function (response) {
          if (!response.ok) return;
          return response.text().then(function (html) {
            element.innerHTML = html;
            if (ready) ready();
          });
        });
      }, 100);
    };
  }

  function conversationOf(frame) {
    var data = frame.data || {};
    if (data.conversationId) return data.conversationId;
    if (data.message) return data.message.conversationId;
    if (data.conversation) return data.conversation.id;
    return null;
  }

  function seenKey(id) { return 'klatch.console.seen.' + id; }

  // ------------------------------------------------------------------ inbox

  function markUnread(root) {
    root.querySelectorAll('tr[data-conversation-id]').forEach(function (row) {
      var seen = Number(localStorage.getItem(seenKey(row.dataset.conversationId)) || 0);
      var dot = row.querySelector('.unread-dot');
      if (dot) dot.hidden = Number(row.dataset.activity) <= seen;
    });
  }

  function inbox(root) {
    markUnread(root);
    var refresh = refresher(root, function () {
      var params = new URLSearchParams(location.search);
      params.set('partial', 'rows');
      return location.pathname + '?' + params.toString();
    }, function () { markUnread(root); });
    live(function (frame) {
      if (!frame || /^(conversation|message)\./.test(frame.type)) refresh();
    });
    valueInputFitsType();
  }

  function valueInputFitsType() {
    var picker = document.getElementById('filter-attribute');
    if (!picker) return;
    function swap() {
      var current = document.getElementById('filter-value');
      var option = picker.selectedOptions[0];
      // The input the attribute's type has in the console (its row of the type table).
      var editor = option ? option.dataset.editor : '';
      var allowed = option && option.dataset.allowed ? option.dataset.allowed.split('\n') : [];
      var next;
      if (allowed.length || editor === 'bool') {
        next = document.createElement('select');
        (editor === 'bool' ? ['true', 'false'] : allowed).forEach(function (value) {
          var item = document.createElement('option');
          item.value = value;
          item.textContent = value;
          next.appendChild(item);
        });
        next.value = current.value;
      } else {
        next = document.createElement('input');
        next.value = current.tagName === 'INPUT' ? current.value : '';
        if (editor === 'number') next.inputMode = 'decimal';
        if (editor === 'datetime') next.placeholder = '2026-11-25T09:30:00Z';
      }
      next.id = 'filter-value';
      next.name = 'value';
      current.replaceWith(next);
    }
    picker.addEventListener('change', swap);
    swap();
  }

  // ------------------------------------------------------------------ conversation

  function conversation(root) {
    var id = root.dataset.conversationId;
    var base = '/console/conversations/' + id;
    var seen = function () { localStorage.setItem(seenKey(id), String(Date.now())); };
    seen();
    var messages = document.getElementById('messages');
    var attributes = document.getElementById('attributes');
    var typingLine = document.getElementById('customer-typing');
    var scroll = function () { messages.scrollTop = messages.scrollHeight; seen(); };
    scroll();
    var part = function (name) { return function () { return base + '?partial=' + name; }; };
    var refreshMessages = refresher(messages, part('messages'), scroll);
    var refreshHistory = refresher(document.getElementById('history'), part('history'));
    var refreshStatus = refresher(document.getElementById('status'), part('status'));
    var refreshAttributes = refresher(attributes, part('attributes'));
    var typingTimer = null;

    live(function (frame) {
      if (frame && conversationOf(frame) !== id) return;
      var type = frame ? frame.type : null;
      if (!frame || type === 'message.created') {
        refreshMessages();
        typingLine.textContent = '';
      }
      if (!frame || type === 'conversation.updated' || type === 'conversation.ended') {
        refreshStatus();
        refreshHistory();
        // Values set elsewhere show up, unless the agent is editing one right now.
        if (!attributes.querySelector('.dirty') && !attributes.contains(document.activeElement)) {
          refreshAttributes();
        }
      }
      if (type === 'typing.started' || type === 'typing.stopped') {
        var who = frame.data.sentBy || {};
        if (who.type !== 'customer') return;
        clearTimeout(typingTimer);
        typingLine.textContent = type === 'typing.started' ? 'The customer is typing…' : '';
        if (type === 'typing.started') {
          typingTimer = setTimeout(function () { typingLine.textContent = ''; }, 15000);
        }
      }
    });

    attributes.addEventListener('input', function (event) {
      var form = event.target.closest('form');
      if (form) form.classList.add('dirty');
    });
    attributes.addEventListener('submit', function (event) {
      var form = event.target;
      event.preventDefault();
      var name = form.dataset.attribute;
      var error = document.getElementById('attr-' + name + '-error');
      send(form.action, new URLSearchParams(new FormData(form)),
        'application/x-www-form-urlencoded').then(function (response) {
        return response.json().then(function (body) {
          if (response.ok) {
            error.textContent = '';
            form.classList.remove('dirty');
            return;
          }
          var messages = (body.errors || []).map(function (e) { return e.message; });
          error.textContent = messages.join(' ') || 'Not saved.';
        });
      }, function () { error.textContent = 'Not saved: the server could not be reached.'; });
    });

    var reply = document.getElementById('reply-form');
    var body = document.getElementById('reply-body');
    var replyError = document.getElementById('reply-error');
    var typingSent = false;
    var idle = null;
    function typing(on) {
      typingSent = on;
      send(base + '/typing', JSON.stringify({ typing: on }), 'application/json');
    }
    body.addEventListener('input', function () {
      if (!typingSent && body.value.trim()) typing(true);
      clearTimeout(idle);
      idle = setTimeout(function () { if (typingSent) typing(false); }, 4000);
    });
    body.addEventListener('keydown', function (event) {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        reply.requestSubmit();
      }
    });
    reply.addEventListener('submit', function (event) {
      event.preventDefault();
      if (!body.value.trim()) return;
      send(reply.action, new URLSearchParams(new FormData(reply)),
        'application/x-www-form-urlencoded').then(function (response) {
        return response.json().then(function (result) {
          if (!response.ok) {
            replyError.textContent = (result.errors || [{}])[0].message || 'Not sent.';
            return;
          }
          replyError.textContent = '';
          body.value = '';
          clearTimeout(idle);
          if (typingSent) typing(false);
          refreshMessages();
        });
      }, function () { replyError.textContent = 'Not sent: the server could not be reached.'; });
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    var inboxRoot = document.querySelector('[data-live="inbox"]');
    if (inboxRoot) inbox(inboxRoot);
    var conversationRoot = document.querySelector('[data-live="conversation"]');
    if (conversationRoot) conversation(conversationRoot);
    document.querySelectorAll('form[data-confirm]').forEach(function (form) {
      form.addEventListener('submit', function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
  });
})();

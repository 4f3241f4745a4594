/* Klatch console: live updates over the agent WebSocket and in-place forms.
 * Pages work without it; with it, the inbox and the conversation update live.
 * Server-rendered fragments are inserted as they come (Jinja escapes every
 * value); anything built here uses textContent. */
(function () {
  'use strict';

  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.content : '';
  // The org's newest event when the page was read (see Agent.events_seen).
  var seenMeta = document.querySelector('meta[name="klatch-events-seen"]');
  var pageSeen = seenMeta ? Number(seenMeta.content) : 0;

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
          // Reconnected, or events came between the page's reads and this socket:
          // what happened meanwhile is re-read.
          if (!first || frame.lastEventId > pageSeen) onEvent(null);
          first = false;
        } else if (frame.op === 'event') {
          onEvent(frame);
        }
      };
      socket.onclose = function (closed) {
        // Logged out, disabled or deleted: the page goes to the login form at once.
        if (closed.code === 4401) { location.reload(); return; }
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
            // A live refresh keeps the agent's place: the focused input, what it holds.
            var focused = element.contains(document.activeElement) ? document.activeElement : null;
            element.innerHTML = html;
            var again = focused && focused.id ? document.getElementById(focused.id) : null;
            if (again) {
              if (again.tagName === 'INPUT' && focused.value) again.value = focused.value;
              again.focus();
            }
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
    var refreshViews = viewCounts();
    live(function (frame) {
      if (!frame || /^(conversation|message)\./.test(frame.type)) refresh();
      if (!frame || /^conversation\./.test(frame.type)) refreshViews();
    });
    valueInputFitsType();
    criteriaBuilder();
  }

  // The inbox's search (console/criteria.py): each row's operators and value input
  // follow its field; rows are added and removed here, the server reads f/o/v.
  function criteriaBuilder() {
    var list = document.getElementById('criteria');
    if (!list) return;
    function option(value, label, selected) {
      var item = document.createElement('option');
      item.value = value;
      item.textContent = label;
      item.selected = selected;
      return item;
    }
    function fit(row) {
      var field = row.querySelector('.criterion-field');
      var chosen = field.selectedOptions[0];
      var ops = chosen && chosen.dataset.ops ? JSON.parse(chosen.dataset.ops) : [['equals', 'is']];
      var values = chosen && chosen.dataset.values ? JSON.parse(chosen.dataset.values) : [];
      var op = row.querySelector('.criterion-op');
      var keep = op.value;
      op.textContent = '';
      ops.forEach(function (pair) { op.appendChild(option(pair[0], pair[1], pair[0] === keep)); });
      var current = row.querySelector('.criterion-value');
      var next;
      if (values.length) {
        next = document.createElement('select');
        values.forEach(function (pair) {
          next.appendChild(option(pair[0], pair[1], pair[0] === current.value));
        });
      } else {
        next = document.createElement('input');
        next.value = current.tagName === 'INPUT' ? current.value : '';
        next.placeholder = chosen ? chosen.dataset.hint || '' : '';
      }
      next.name = 'v';
      next.className = 'criterion-value';
      next.setAttribute('aria-label', current.getAttribute('aria-label'));
      current.replaceWith(next);
      showValue(row);
    }
    function showValue(row) {
      var op = row.querySelector('.criterion-op').value;
      row.querySelector('.criterion-value').hidden = op === 'exists' || op === 'missing';
    }
    function number() {
      list.querySelectorAll('.criterion').forEach(function (row, i) {
        ['field', 'op', 'value'].forEach(function (part) {
          var control = row.querySelector('.criterion-' + part);
          var label = { field: 'Field', op: 'Operator', value: 'Value' }[part];
          control.setAttribute('aria-label', label + ' of criterion ' + (i + 1));
        });
        row.querySelector('.criterion-remove').setAttribute('aria-label', 'Remove criterion ' + (i + 1));
      });
    }
    list.addEventListener('change', function (event) {
      var row = event.target.closest('.criterion');
      if (event.target.classList.contains('criterion-field')) fit(row);
      if (event.target.classList.contains('criterion-op')) showValue(row);
    });
    list.addEventListener('click', function (event) {
      if (!event.target.classList.contains('criterion-remove')) return;
      var row = event.target.closest('.criterion');
      if (list.children.length > 1) row.remove(); else row.querySelector('.criterion-field').value = '';
      number();
    });
    document.getElementById('criterion-add').addEventListener('click', function () {
      var last = list.lastElementChild;
      var row = last.cloneNode(true);
      row.querySelectorAll('.error').forEach(function (e) { e.remove(); });
      row.querySelector('.criterion-field').value = '';
      list.appendChild(row);
      fit(row);
      row.querySelector('.criterion-value').value = '';
      number();
      row.querySelector('.criterion-field').focus();
    });
    list.querySelectorAll('.criterion').forEach(showValue);
  }

  // The views (Mine, Unassigned, teams, All) and their counts, drawn again live.
  function viewCounts() {
    var box = document.getElementById('inbox-views');
    if (!box) return function () {};
    return refresher(box, function () {
      var params = new URLSearchParams(location.search);
      return location.pathname + '?partial=views&view=' + encodeURIComponent(params.get('view') || 'all');
    });
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
    var refreshAttributes = refresher(attributes, part('attributes'));
    var assignBox = document.getElementById('assignment');
    var refreshAssignment = assignBox ? refresher(assignBox, part('assign')) : function () {};
    var tagsBox = document.getElementById('tags');
    var refreshTags = tagsBox ? refresher(tagsBox, part('tags')) : function () {};
    // Done: a Reopen button instead of the reply box.
    var reopenBox = document.getElementById('reopen-box');
    var statusBox = document.getElementById('status');
    var refreshStatus = refresher(statusBox, part('status'), function () {
      var done = !!statusBox.querySelector('.status-done');
      document.getElementById('reply-form').hidden = done;
      if (reopenBox) reopenBox.hidden = !done;
    });
    var typingTimer = null;

    live(function (frame) {
      if (frame && conversationOf(frame) !== id) return;
      var type = frame ? frame.type : null;
      if (!frame || type === 'message.created') {
        refreshMessages();
        typingLine.textContent = '';
      }
      if (!frame || type === 'note.created') refreshMessages();
      if (!frame || type === 'conversation.updated' || type === 'conversation.ended') {
        refreshTags();
        refreshAssignment();
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

    attributesPanel(attributes);

    var reply = document.getElementById('reply-form');
    var body = document.getElementById('reply-body');
    var replyError = document.getElementById('reply-error');
    var typingSent = false;
    var typingAt = 0;
    var idle = null;
    function typing(on) {
      typingSent = on;
      typingAt = Date.now();
      send(base + '/typing', JSON.stringify({ typing: on }), 'application/json');
    }
    body.addEventListener('input', function () {
      // Said again every ~5 s while the agent types: the widget forgets a typing
      // indicator that is not renewed.
      if (body.value.trim() && (!typingSent || Date.now() - typingAt > 5000)) typing(true);
      clearTimeout(idle);
      idle = setTimeout(function () { if (typingSent) typing(false); }, 4000);
    });
    agentTools(base, body, refreshMessages);
    body.addEventListener('keydown', function (event) {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        reply.requestSubmit();
      }
    });
    reply.addEventListener('submit', function (event) {
      event.preventDefault();
      if (!body.value.trim()) return;
      postForm(reply, replyError, function () {
        body.value = '';
        clearTimeout(idle);
        if (typingSent) typing(false);
        refreshMessages();
      }, 'Not sent');
    });
  }

  // ------------------------------------------------------------------ attributes panel

  // One Save for the panel: only the fields changed since the page was drawn are
  // sent; each refusal is shown under its field.
  function attributesPanel(panel) {
    panel.addEventListener('input', function (event) {
      var field = event.target.closest('.attribute');
      if (field) field.classList.add('dirty');
    });
    panel.addEventListener('change', function (event) {
      var field = event.target.closest('.attribute');
      if (field) field.classList.add('dirty');
    });
    panel.addEventListener('submit', function (event) {
      var form = event.target;
      if (!form.classList.contains('attributes-form')) return;
      event.preventDefault();
      var data = new URLSearchParams();
      data.set('csrf', csrf);
      var dirty = form.querySelectorAll('.attribute.dirty');
      dirty.forEach(function (field) {
        var input = field.querySelector('[name^="custom."]');
        data.append(input.name, input.value);
      });
      var saved = document.getElementById('attributes-saved');
      form.querySelectorAll('.attribute .error').forEach(function (e) { e.textContent = ''; });
      if (!dirty.length) { saved.textContent = 'Nothing changed.'; return; }
      saved.textContent = 'Saving…';
      send(form.action, data, 'application/x-www-form-urlencoded').then(function (response) {
        return response.json().then(function (result) {
          if (response.ok) {
            dirty.forEach(function (field) { field.classList.remove('dirty'); });
            saved.textContent = 'Saved.';
            return;
          }
          saved.textContent = 'Not saved.';
          (result.errors || []).forEach(function (e) {
            var target = document.getElementById('attr-' + e.attribute + '-error');
            if (target) target.textContent = e.message; else saved.textContent = e.message;
          });
        });
      }, function () { saved.textContent = 'Not saved: the server could not be reached.'; });
    });
  }

  // The customer page: its attributes and history follow the customer's changes.
  function customerPage(root) {
    var id = root.dataset.customerId;
    var attributes = document.getElementById('attributes');
    var part = function (name) {
      return function () { return location.pathname + '?partial=' + name; };
    };
    var refreshHistory = refresher(document.getElementById('history'), part('history'));
    var refreshAttributes = refresher(attributes, part('attributes'));
    attributesPanel(attributes);
    live(function (frame) {
      var data = frame ? frame.data || {} : {};
      if (frame && (frame.type !== 'customer.updated' || data.customerId !== id)) return;
      refreshHistory();
      if (!attributes.querySelector('.dirty') && !attributes.contains(document.activeElement)) {
        refreshAttributes();
      }
    });
  }

  // ------------------------------------------------------------------ agents' tools

  // A form sent for JSON (the reply box, a note): the server's refusal in
  // errorBox, else done(); failed words the refusal ('Not saved' unless told).
  function postForm(form, errorBox, done, failed) {
    var said = failed || 'Not saved';
    send(form.action, new URLSearchParams(new FormData(form)),
      'application/x-www-form-urlencoded').then(function (response) {
      return response.json().then(function (result) {
        if (!response.ok) {
          errorBox.textContent = (result.errors || [{}])[0].message || said + '.';
          return;
        }
        errorBox.textContent = '';
        done();
      });
    }, function () { errorBox.textContent = said + ': the server could not be reached.'; });
  }

  function agentTools(base, body, refreshMessages) {
    var note = document.getElementById('note-form');
    if (note) {
      note.addEventListener('submit', function (event) {
        event.preventDefault();
        var text = document.getElementById('note-body');
        if (!text.value.trim()) return;
        postForm(note, document.getElementById('note-error'), function () {
          text.value = '';
          refreshMessages();
        });
      });
    }
    var tags = document.getElementById('tags');
    if (tags) {
      tags.addEventListener('submit', function (event) {
        event.preventDefault();
        var form = event.target;
        var data = new URLSearchParams(new FormData(form));
        if (event.submitter && event.submitter.name) data.set(event.submitter.name, event.submitter.value);
        send(form.action, data, 'application/x-www-form-urlencoded').then(function (response) {
          return response.json().then(function (result) {
            var error = document.getElementById('tag-error');
            if (!response.ok) {
              if (error) error.textContent = (result.errors || [{}])[0].message || 'Not saved.';
              return;
            }
            fetch(base + '?partial=tags', { credentials: 'same-origin' }).then(function (r) {
              return r.text();
            }).then(function (html) {
              tags.innerHTML = html;
              var input = document.getElementById('tag-input');
              if (input) input.focus();
            });
          });
        });
      });
    }
    shortcutPicker(body);
  }

  // The reply box's shortcuts: a picker (button) and "/name" typed at the start of
  // a word. Each is filled in for this conversation when it is asked for, and put
  // into the box as text; a variable without a value stays visible and selected.
  function shortcutPicker(body) {
    var form = document.getElementById('reply-form');
    var list = document.getElementById('shortcut-list');
    var button = document.getElementById('shortcut-button');
    var missingLine = document.getElementById('shortcut-missing');
    if (!form || !list || !form.dataset.shortcuts) return;
    var items = [];
    var active = 0;
    var slash = null;  // [start, end] of the "/name" being typed

    function load() {
      return fetch(form.dataset.shortcuts, { credentials: 'same-origin' }).then(function (r) {
        return r.ok ? r.json() : { shortcuts: [] };
      }).then(function (result) { return result.shortcuts || []; });
    }
    function close() { list.hidden = true; slash = null; body.setAttribute('aria-expanded', 'false'); }
    function draw(found) {
      items = found;
      active = 0;
      list.textContent = '';
      if (!found.length) {
        var none = document.createElement('li');
        none.textContent = 'No shortcut matches.';
        none.setAttribute('aria-disabled', 'true');
        list.appendChild(none);
      }
      found.forEach(function (item, i) {
        var li = document.createElement('li');
        li.setAttribute('role', 'option');
        li.id = 'shortcut-' + i;
        li.setAttribute('aria-selected', i === 0 ? 'true' : 'false');
        var name = document.createElement('span');
        name.className = 'shortcut-name';
        name.textContent = '/' + item.name;
        var text = document.createElement('span');
        text.className = 'shortcut-text';
        text.textContent = item.text.length > 80 ? item.text.slice(0, 80) + '…' : item.text;
        li.appendChild(name);
        li.appendChild(text);
        li.addEventListener('mousedown', function (event) { event.preventDefault(); choose(i); });
        list.appendChild(li);
      });
      list.hidden = false;
      body.setAttribute('aria-expanded', 'true');
    }
    function mark(i) {
      active = (i + items.length) % items.length;
      list.querySelectorAll('[role="option"]').forEach(function (li, j) {
        li.setAttribute('aria-selected', j === active ? 'true' : 'false');
      });
      body.setAttribute('aria-activedescendant', 'shortcut-' + active);
    }
    function choose(i) {
      var item = items[i];
      if (!item) return;
      var start = slash ? slash[0] : body.selectionStart;
      var end = slash ? slash[1] : body.selectionEnd;
      body.value = body.value.slice(0, start) + item.text + body.value.slice(end);
      close();
      body.focus();
      var first = item.missing.length ? body.value.indexOf('{{', start) : -1;
      if (first >= 0) {
        body.setSelectionRange(first, body.value.indexOf('}}', first) + 2);
        missingLine.textContent = 'Fill in: ' + item.missing.join(', ');
      } else {
        var caret = start + item.text.length;
        body.setSelectionRange(caret, caret);
        missingLine.textContent = '';
      }
      body.dispatchEvent(new Event('input'));
    }
    function typedName() {
      var before = body.value.slice(0, body.selectionStart);
      var match = /(^|\s)\/([a-z0-9_-]*)$/.exec(before);
      if (!match) return null;
      return { start: before.length - match[2].length - 1, name: match[2] };
    }
    body.addEventListener('input', function () {
      var typed = typedName();
      if (!typed) { if (slash) close(); return; }
      slash = [typed.start, body.selectionStart];
      load().then(function (all) {
        if (!slash) return;
        draw(all.filter(function (s) { return s.name.indexOf(typed.name) === 0; }));
      });
    });
    body.addEventListener('keydown', function (event) {
      if (list.hidden) return;
      if (event.key === 'ArrowDown') { event.preventDefault(); mark(active + 1); }
      else if (event.key === 'ArrowUp') { event.preventDefault(); mark(active - 1); }
      else if ((event.key === 'Enter' && !event.ctrlKey && !event.metaKey) || event.key === 'Tab') {
        if (items.length) { event.preventDefault(); event.stopImmediatePropagation(); choose(active); }
      } else if (event.key === 'Escape') { event.preventDefault(); close(); }
    });
    body.addEventListener('blur', function () {
      setTimeout(function () { if (document.activeElement !== body) close(); }, 150);
    });
    if (button) {
      button.addEventListener('click', function () {
        if (!list.hidden) { close(); return; }
        slash = null;
        load().then(function (all) { draw(all); body.focus(); });
      });
    }
  }

  document.addEventListener('DOMContentLoaded', function () {
    var inboxRoot = document.querySelector('[data-live="inbox"]');
    if (inboxRoot) inbox(inboxRoot);
    var conversationRoot = document.querySelector('[data-live="conversation"]');
    if (conversationRoot) conversation(conversationRoot);
    var customerRoot = document.querySelector('[data-live="customer"]');
    if (customerRoot) customerPage(customerRoot);
    // An address (#edit-…) that points into a collapsed form opens it.
    function openTarget() {
      var target = location.hash ? document.getElementById(location.hash.slice(1)) : null;
      var details = target ? target.closest('details') : null;
      if (details) { details.open = true; target.scrollIntoView(); }
    }
    window.addEventListener('hashchange', openTarget);
    openTarget();
    document.querySelectorAll('form[data-confirm]').forEach(function (form) {
      form.addEventListener('submit', function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
  });
})();

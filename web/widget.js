/*
 * pgchat customer widget: one script tag on any page.
 *
 *   <script src="https://chat.example.com/widget.js" data-token-url="/pgchat-token" async></script>
 *
 * Configuration (data-* attributes of the script tag, or window.pgchatSettings
 * set before it):
 *   token        a JWT for the visitor (role `user`)
 *   tokenUrl     a URL of the host site answering {"token": "…"} (called again
 *                before the token expires); sent with the site's cookies
 *   getToken     (pgchatSettings only) async () => token
 *   userId, userHash
 *                verified identity: the host site's user id and the hex
 *                HMAC-SHA256 of it under PGCHAT_IDENTITY_SECRET, computed by
 *                the host's server; the widget signs in as that customer
 *                (POST /v1/widget/token). Same as pgchat('identify', {user_id, user_hash}).
 *   dev          "1": development sign-in (servers with PGCHAT_DEV=1 only); the
 *                visitor is ?user=…&name=… of the page, or a remembered random id
 *   title        header title (default "Support"); color: accent color
 *   open         "1": open the panel at once
 *
 * The host page drives it with pgchat(command, data), callable before the
 * script has loaded when the page defines the queue first:
 *
 *   window.pgchat = window.pgchat || function () { (pgchat.q = pgchat.q || []).push(arguments); };
 *   pgchat('identify', {user_id, user_hash, email, name, attributes: {plan: 'pro'}});
 *   pgchat('open'); pgchat('close'); pgchat('toggle');
 *
 * identify: email, name and attributes go to the visitor's contact (PATCH
 * /v1/contacts/me); user_id with user_hash signs in as that customer of the
 * host site, verified (the widget starts again as them if it was someone
 * else); user_id alone, or a hash the server does not accept, is kept as the
 * contact's attribute `user_id`, unverified. window.PgChatWidget has open(),
 * close(), toggle() and identify(data) too.
 *
 * Everything lives in a shadow root, so the host page's CSS does not leak in
 * and ours does not leak out.
 */
(function () {
  'use strict';
  if (window.PgChatWidget) return;
  var script = document.currentScript;
  var base = new URL((script && script.src) || location.href).origin;
  var settings = Object.assign({}, (script && script.dataset) || {}, window.pgchatSettings || {});
  // Commands wait here until the widget is up (and while it starts again).
  var pending = [].slice.call((typeof window.pgchat === 'function' && window.pgchat.q) || [])
    .map(function (args) { return [].slice.call(args); });
  var commands = null;
  function command(name, data) {
    if (commands && commands[name]) commands[name](data);
    else if (!commands) pending.push([name, data]);
    else console.warn('pgchat: unknown command', name);
  }
  var api = { queue: pending };
  ['open', 'close', 'toggle', 'identify'].forEach(function (name) {
    api[name] = function (data) { command(name, data); };
  });
  window.PgChatWidget = api;
  window.pgchat = function (name, data) { command(name, data); };

  // Who the widget signs in as when the host site vouches (verified identity).
  var identity = settings.userId && settings.userHash ? { userId: String(settings.userId), userHash: String(settings.userHash) } : null;
  // A user id whose hash the server refused: not tried again.
  var refused = {};

  Promise.all([import(base + '/client/pgchat.js'), import(base + '/client/ui.js')])
    .then(function (mods) { return start(mods[0], mods[1]); })
    .catch(function (error) { console.error('pgchat widget failed to start', error); });

  async function start(lib, ui) {
    var h = ui.h;
    // A session over for good (a live chat ended, a ticket closed): no more writing,
    // the rating. A resolved one stays open to the visitor: writing reopens it.
    function over(s) { return !!s && (s.status === 'ended' || s.status === 'closed'); }
    // An identify waiting from before the start names whom to sign in as.
    pending.forEach(function (c) {
      var d = c[1];
      if (c[0] === 'identify' && d && d.user_id && d.user_hash && !refused[d.user_id]) {
        identity = { userId: String(d.user_id), userHash: String(d.user_hash) };
      }
    });
    var host = document.createElement('div');
    host.id = 'pgchat-widget';
    host.style.cssText = 'position:fixed;z-index:2147483000;bottom:0;right:0;width:0;height:0;';
    if (settings.color) host.style.setProperty('--pc-accent', settings.color);
    var shadow = host.attachShadow({ mode: 'open' });
    var sheets = ['/client/chat.css', '/client/widget.css'].map(function (path) {
      var link = h('link', { rel: 'stylesheet', href: base + path });
      shadow.append(link);
      return new Promise(function (resolve) { link.onload = link.onerror = resolve; });
    });
    document.body.append(host);
    await Promise.all(sheets);

    // --- identity ------------------------------------------------------------
    var getToken = settings.getToken || null;
    if (!getToken && settings.tokenUrl) {
      getToken = async function () {
        var r = await fetch(settings.tokenUrl, { credentials: 'include' });
        if (!r.ok) throw new Error('token endpoint answered ' + r.status);
        return (await r.json()).token;
      };
    }
    if (!getToken && !settings.token && settings.dev) {
      var params = new URLSearchParams(location.search);
      var sub = params.get('user') || localStorage.getItem('pgchat:visitor');
      if (!sub) {
        sub = 'visitor-' + lib.uuid().slice(0, 8);
        localStorage.setItem('pgchat:visitor', sub);
      }
      var name = params.get('name') || settings.name || 'Visitor';
      getToken = function () { return lib.devToken(base, { sub: sub, role: 'user', name: name }); };
    }
    var token = settings.token || null;
    // Verified identity first: the host site's word for who this is.
    if (identity) {
      var verified = identity;
      try {
        token = await lib.verifiedToken(base, verified);
        getToken = function () { return lib.verifiedToken(base, verified); };
      } catch (err) {
        console.warn('pgchat widget: the verified sign-in of ' + verified.userId + ' failed (' + err.code + '): ' + err.message);
        refused[verified.userId] = true;
        identity = null;
        token = settings.token || null;
      }
    }
    if (!getToken && !token) {
      console.warn('pgchat widget: no token, tokenUrl, getToken or userId/userHash configured');
      return;
    }
    token = token || (await getToken());
    var client = new lib.PgChat({ url: base, token: token, getToken: getToken });
    var me = client.sub;

    // --- state ---------------------------------------------------------------
    var state = {
      open: false,
      view: 'loading',
      session: null,
      conversation: null,
      myLastRead: 0,
      typers: new Map(),
      rating: 0,
      typingSentAt: 0,
      // GET /v1/support/availability: open now?, the expected first reply, ask for an email?
      availability: null,
      availabilityAt: 0,
    };
    var receipts = new ui.Receipts(me);

    // --- DOM -----------------------------------------------------------------
    var title = settings.title || 'Support';
    var badge = h('span', { class: 'pcw-badge', hidden: true, 'aria-hidden': 'true' });
    var launcher = h('button', {
      class: 'pcw-launcher', type: 'button', 'aria-label': 'Open chat', 'aria-expanded': 'false',
      'aria-controls': 'pcw-panel', onclick: function () { toggle(); },
    }, ui.icon('chat', 28), badge);
    var srUnread = h('span', { class: 'pcw-sr', 'aria-live': 'polite' });
    var avatar = h('div', { class: 'pcw-avatar', 'aria-hidden': 'true' }, ui.icon('user', 22));
    var heading = h('h2', { id: 'pcw-title', class: 'pcw-title' }, title);
    var subtitle = h('div', { class: 'pcw-subtitle', role: 'status' }, 'Connecting…');
    var endButton = h('button', { class: 'pcw-end', type: 'button', hidden: true, onclick: endChat }, 'End chat');
    var closeButton = h('button', { class: 'pcw-icon', type: 'button', 'aria-label': 'Minimize chat', onclick: function () { toggle(false); } }, ui.icon('minimize', 20));
    var banner = h('div', { class: 'pcw-banner', role: 'status', hidden: true });
    var body = h('div', { class: 'pcw-body' });
    var panel = h('section', {
      id: 'pcw-panel', class: 'pcw-panel', role: 'dialog', 'aria-labelledby': 'pcw-title', hidden: true,
      onkeydown: function (e) { if (e.key === 'Escape') { toggle(false); } },
    },
    h('header', { class: 'pcw-header' }, avatar, h('div', { class: 'pcw-heading' }, heading, subtitle), endButton, closeButton),
    banner, body);
    shadow.append(panel, launcher, srUnread);

    // Conversation view pieces (made once, kept across re-renders).
    var log = h('div', { class: 'pc-log pcw-log', 'aria-label': 'Conversation' });
    var list = new ui.MessageList(log, {
      me: me,
      staff: false,
      files: client,
      receipt: function (m) { return receipts.of(m); },
      queued: function () { return client.state !== 'open'; },
    });
    var input = h('textarea', {
      id: 'pcw-input', class: 'pcw-input', rows: 1, placeholder: 'Write a message…', 'aria-label': 'Message',
      maxlength: 5000, onkeydown: onComposerKey, oninput: onComposerInput,
    });
    var sendButton = h('button', { class: 'pcw-send', type: 'submit', 'aria-label': 'Send message' }, ui.icon('send', 20));
    // Attachments: a labelled button opens the (visually hidden) file input;
    // files may also be dropped on the conversation or pasted into the box.
    var fileInput = h('input', {
      id: 'pcw-file', class: 'pcw-sr', type: 'file', multiple: true, tabindex: '-1', 'aria-label': 'Choose files to send',
      accept: lib.ATTACHMENT_TYPES.join(','),
      onchange: function () { attachFiles(fileInput.files); fileInput.value = ''; },
    });
    var attachButton = h('button', {
      class: 'pcw-attach', type: 'button', 'aria-label': 'Attach a file', title: 'Attach a file', 'aria-controls': 'pcw-file',
      onclick: function () { fileInput.click(); },
    }, ui.icon('clip', 20));
    var attachText = h('span', { class: 'pcw-attach-text' });
    var attachNote = h('div', { class: 'pcw-attach-note', role: 'alert', hidden: true },
      ui.icon('file', 18), attachText,
      h('button', { class: 'pcw-dismiss', type: 'button', 'aria-label': 'Dismiss', onclick: function () { showAttachError(null); input.focus(); } }, ui.icon('close', 16)));
    var composer = h('form', { class: 'pcw-composer', onsubmit: function (e) { e.preventDefault(); sendCurrent(); } }, attachButton, fileInput, input, sendButton);
    // While waiting: the place in the queue and the usual wait (GET …/queue).
    var queueNote = h('div', { class: 'pcw-queue', role: 'status', hidden: true });
    var chatView = h('div', {
      class: 'pcw-chat',
      ondragover: function (e) {
        if (!canAttach() || !e.dataTransfer || [].indexOf.call(e.dataTransfer.types, 'Files') < 0) return;
        e.preventDefault();
        chatView.classList.add('pcw-dropping');
      },
      ondragleave: function (e) { if (!chatView.contains(e.relatedTarget)) chatView.classList.remove('pcw-dropping'); },
      ondrop: function (e) {
        chatView.classList.remove('pcw-dropping');
        if (!canAttach() || !e.dataTransfer || !e.dataTransfer.files.length) return;
        e.preventDefault();
        attachFiles(e.dataTransfer.files);
      },
    }, queueNote, log, attachNote, composer);
    input.addEventListener('paste', function (e) {
      var files = e.clipboardData && e.clipboardData.files;
      if (!files || !files.length || !canAttach()) return;
      e.preventDefault();
      attachFiles(files);
    });

    function render() {
      var s = state.session;
      endButton.hidden = !(s && !over(s) && state.view === 'chat');
      if (s && s.agent_name && s.status !== 'waiting') {
        heading.textContent = s.agent_name;
        avatar.replaceChildren(ui.initials(s.agent_name));
        avatar.classList.add('pcw-avatar-agent');
      } else {
        heading.textContent = title;
        avatar.replaceChildren(ui.icon('user', 22));
        avatar.classList.remove('pcw-avatar-agent');
      }
      renderStatus();
      if (state.view !== 'chat' || over(s)) showAttachError(null);
      if (state.view === 'chat') {
        if (body.firstChild !== chatView) body.replaceChildren(chatView);
        composer.hidden = over(s);
      } else if (state.view === 'start') {
        state.startEl = state.startEl || startForm();
        state.startEl.update(state.availability);
        if (body.firstChild !== state.startEl) body.replaceChildren(state.startEl);
      } else if (state.view === 'rate') {
        state.rateEl = state.rateEl || rateForm();
        if (body.lastChild !== state.rateEl) body.replaceChildren(chatView, state.rateEl);
        composer.hidden = true;
      } else if (state.view === 'thanks') {
        body.replaceChildren(chatView, thanks());
        composer.hidden = true;
      } else {
        body.replaceChildren(h('div', { class: 'pcw-loading' }, h('span', { class: 'pc-dots' }, h('i'), h('i'), h('i'))));
      }
    }

    var queueTimer = null;
    async function refreshQueue() {
      clearTimeout(queueTimer);
      var s = state.session;
      if (!s || s.status !== 'waiting') { queueNote.hidden = true; return; }
      try {
        var place = await client.api('GET', '/v1/support/sessions/' + s.id + '/queue');
        if (!state.session || state.session.id !== s.id || state.session.status !== 'waiting' || !place.position) {
          queueNote.hidden = true;
        } else {
          var text = place.position === 1 ? 'You are next in the queue.' : 'You are number ' + place.position + ' in the queue.';
          var a = await refreshAvailability();
          if (a && !a.open) text += ' ' + awayText(a) + ': we will answer as soon as we are back' + (a.ask_email ? '.' : ', here and by email.');
          else if (place.expected_wait_secs !== null) text += ' Usually answered within ' + waitText(place.expected_wait_secs) + '.';
          if (queueNote.textContent !== text) queueNote.textContent = text;
          queueNote.hidden = false;
        }
      } catch (e) {
        queueNote.hidden = true;
      }
      // Others ahead leave the queue without an event to this customer: ask again.
      if (state.session && state.session.status === 'waiting') queueTimer = setTimeout(refreshQueue, 15000);
    }
    function waitText(secs) {
      if (secs < 60) return 'a minute';
      var minutes = Math.round(secs / 60);
      return minutes < 90 ? 'about ' + minutes + ' minute' + (minutes > 1 ? 's' : '') : 'about ' + Math.round(minutes / 60) + ' hours';
    }

    // Whether the desk is open and how soon it answers, asked again after a minute.
    async function refreshAvailability(force) {
      if (!force && state.availability && Date.now() - state.availabilityAt < 60000) return state.availability;
      try {
        state.availability = await client.api('GET', '/v1/support/availability');
        state.availabilityAt = Date.now();
      } catch (e) {
        // Unknown: say nothing rather than something untrue.
      }
      return state.availability;
    }
    // From the recent first answers the server measured, never a constant.
    function replyText(a) {
      if (!a) return 'Ask us anything';
      if (!a.open) return awayText(a);
      var secs = a.expected_first_reply_secs;
      if (secs === null || secs === undefined) return 'We are online';
      if (secs < 60) return 'Usually replies in under a minute';
      var minutes = Math.round(secs / 60);
      if (minutes < 90) return 'Usually replies in ~' + minutes + ' minute' + (minutes > 1 ? 's' : '');
      return 'Usually replies in ~' + Math.round(minutes / 60) + ' hours';
    }
    function awayText(a) {
      var back = a.next_open_at ? new Date(a.next_open_at) : null;
      if (!back || isNaN(back)) return 'We are away right now';
      var when = back.toLocaleString(undefined, { weekday: 'short', hour: 'numeric', minute: '2-digit' });
      return 'We are away · back ' + when;
    }

    function renderStatus() {
      var s = state.session;
      var text;
      // The visitor's connection, not the agent's: said so under the agent's name.
      if (client.state === 'offline') text = 'You are offline';
      else if (client.state === 'reconnecting') text = 'Reconnecting…';
      else if (client.state !== 'open') text = 'Connecting…';
      else if (!s || state.view === 'start') text = replyText(state.availability);
      else if (s.status === 'waiting') text = 'Waiting for an agent…';
      else if (s.status === 'active') text = 'Support agent · online';
      else text = 'Chat ended';
      subtitle.textContent = text;
      panel.dataset.connection = client.state;
      var queued = client.outbox().length;
      if (client.state === 'offline' || client.state === 'reconnecting') {
        banner.hidden = false;
        banner.textContent = client.state === 'offline'
          ? 'You are offline. ' + (queued ? queued + ' message' + (queued > 1 ? 's' : '') + ' will be sent when you are back.' : 'Messages will be sent when you are back.')
          : 'Connection lost. Reconnecting…';
      } else banner.hidden = true;
    }

    function startForm() {
      var subject = h('input', { id: 'pcw-subject', name: 'subject', required: true, maxlength: 200, placeholder: 'e.g. Where is my order?', autocomplete: 'off' });
      var category = h('select', { id: 'pcw-category', name: 'category' },
        ui.CATEGORIES.map(function (c) { return h('option', { value: c }, c === 'other' ? 'Something else' : ui.label(c)); }));
      var message = h('textarea', { id: 'pcw-first', name: 'message', required: true, rows: 3, maxlength: 5000, placeholder: 'How can we help?' });
      // Asked while the desk is closed and no address is known: the reply reaches them by email.
      var email = h('input', { id: 'pcw-email', name: 'email', type: 'email', maxlength: 254, autocomplete: 'email', placeholder: 'you@example.com' });
      var emailField = h('div', { class: 'pcw-email', hidden: true },
        h('label', { for: 'pcw-email' }, 'Your email'), email,
        h('p', { class: 'pcw-hint' }, 'We will reply here and by email.'));
      var hello = h('p', { class: 'pcw-hello', role: 'status' });
      var error = h('div', { class: 'pcw-error', role: 'alert' });
      var submit = h('button', { class: 'pcw-primary', type: 'submit' }, 'Start chat');
      var form = h('form', {
        class: 'pcw-start', 'aria-label': 'Start a chat',
        onsubmit: async function (e) {
          e.preventDefault();
          if (!subject.value.trim() || !message.value.trim()) {
            error.textContent = 'Please fill in the subject and your message.';
            return;
          }
          submit.disabled = true;
          error.textContent = '';
          try {
            if (!emailField.hidden && email.value.trim()) {
              try {
                await client.api('PATCH', '/v1/contacts/me', { email: email.value.trim() });
                state.availabilityAt = 0;
              } catch (err) {
                if (err.status !== 400) throw err;
                submit.disabled = false;
                error.textContent = 'Please check your email address.';
                email.focus();
                return;
              }
            }
            var opened = await client.api('POST', '/v1/support/sessions', {
              subject: subject.value.trim(),
              category: category.value,
              message: { body: message.value.trim(), client_msg_id: lib.uuid() },
              context: pageContext(),
            });
            var first = opened.message;
            delete opened.message;
            await openSession(opened);
            if (first) client.ingest(first);
            client.broadcast({ type: 'session', session: opened });
            input.focus();
          } catch (err) {
            submit.disabled = false;
            error.textContent = client.state === 'open' ? 'Could not start the chat: ' + err.message : 'You are offline. Please try again when you are back online.';
          }
        },
      },
      hello,
      h('label', { for: 'pcw-subject' }, 'Subject'), subject,
      h('label', { for: 'pcw-category' }, 'Topic'), category,
      h('label', { for: 'pcw-first' }, 'Message'), message,
      emailField,
      error, submit);
      // Open or closed, said from the server's figures (GET /v1/support/availability).
      form.update = function (a) {
        var away = !!a && !a.open;
        var text = !a ? 'Ask us anything.'
          : away ? awayText(a) + '. Leave us a message and we will get back to you' + (a.ask_email ? ' by email.' : '.')
            : 'Ask us anything. ' + replyText(a) + '.';
        hello.replaceChildren(h('strong', {}, 'Hi there!'), h('br'), text);
        form.dataset.availability = !a ? 'unknown' : away ? 'away' : 'open';
        emailField.hidden = !(away && a.ask_email);
      };
      form.update(state.availability);
      queueMicrotask(function () { if (state.open) subject.focus(); });
      return form;
    }

    // Where the visitor is, for the agent (the session's context): what the
    // server accepts, cut to its bounds, so a long title never fails a chat.
    function pageContext() {
      function clean(text, max) {
        return text ? String(text).replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').trim().slice(0, max) : '';
      }
      function url(text) { return /^https?:\/\//.test(text || '') && text.length <= 2000 ? text : ''; }
      var context = {
        page_url: url(location.href),
        page_title: clean(document.title, 300),
        referrer: url(document.referrer),
        locale: /^[A-Za-z0-9_-]{1,35}$/.test(navigator.language || '') ? navigator.language : '',
        user_agent: clean(navigator.userAgent, 500),
      };
      Object.keys(context).forEach(function (k) { if (!context[k]) delete context[k]; });
      return context;
    }

    function rateForm() {
      var stars = [];
      var feedback = h('textarea', { id: 'pcw-feedback', rows: 2, maxlength: 2000, placeholder: 'Tell us more (optional)' });
      var error = h('div', { class: 'pcw-error', role: 'alert' });
      function paint() {
        stars.forEach(function (b, i) {
          b.setAttribute('aria-checked', String(i + 1 === state.rating));
          b.tabIndex = (state.rating ? i + 1 === state.rating : i === 0) ? 0 : -1;
          b.classList.toggle('pcw-on', i < state.rating);
        });
      }
      for (var i = 1; i <= 5; i++) {
        (function (n) {
          stars.push(h('button', {
            type: 'button', role: 'radio', class: 'pcw-star', 'aria-label': n + (n === 1 ? ' star' : ' stars'),
            onclick: function () { state.rating = n; paint(); },
            onkeydown: function (e) {
              var d = e.key === 'ArrowRight' || e.key === 'ArrowUp' ? 1 : e.key === 'ArrowLeft' || e.key === 'ArrowDown' ? -1 : 0;
              if (!d) return;
              e.preventDefault();
              state.rating = Math.min(5, Math.max(1, (state.rating || n) + d));
              paint();
              stars[state.rating - 1].focus();
            },
          }, ui.icon('star', 28)));
        })(i);
      }
      paint();
      return h('form', {
        class: 'pcw-rate', 'aria-label': 'Rate this chat',
        onsubmit: async function (e) {
          e.preventDefault();
          if (!state.rating) { error.textContent = 'Please choose a rating.'; return; }
          try {
            var rated = await client.api('POST', '/v1/support/sessions/' + state.session.id + '/rating', Object.assign({ rating: state.rating }, feedback.value.trim() ? { feedback: feedback.value.trim() } : {}));
            state.session = rated;
            state.view = 'thanks';
            render();
          } catch (err) {
            error.textContent = err.code === 'already_rated' ? 'You already rated this chat.' : 'Could not send your rating: ' + err.message;
          }
        },
      },
      h('h3', {}, 'How was your chat?'),
      h('div', { class: 'pcw-stars', role: 'radiogroup', 'aria-label': 'Rating' }, stars),
      h('label', { for: 'pcw-feedback', class: 'pcw-sr' }, 'Feedback'), feedback,
      error,
      h('div', { class: 'pcw-row' },
        h('button', { class: 'pcw-primary', type: 'submit' }, 'Send rating'),
        h('button', { class: 'pcw-link', type: 'button', onclick: skipRating }, 'Skip')));
    }

    // A skipped rating stays skipped: this browser remembers the sessions (the last few).
    var SKIPPED = 'pgchat:rating-skipped';
    function skippedRatings() {
      try { return JSON.parse(localStorage.getItem(SKIPPED) || '[]'); } catch (e) { return []; }
    }
    function skipRating() {
      if (state.session) {
        localStorage.setItem(SKIPPED, JSON.stringify(skippedRatings().concat(state.session.id).slice(-20)));
      }
      newChat();
    }

    function thanks() {
      return h('div', { class: 'pcw-thanks', role: 'status' },
        h('p', {}, h('strong', {}, 'Thanks for your feedback!')),
        h('button', { class: 'pcw-primary', type: 'button', onclick: newChat }, 'Start a new chat'));
    }

    function newChat() {
      if (state.conversation) client.unsubscribe('conversation:' + state.conversation);
      state.session = null;
      state.conversation = null;
      state.rating = 0;
      state.startEl = null;
      state.rateEl = null;
      list.byKey.clear();
      state.view = 'start';
      render();
      refreshAvailability(true).then(render);
    }

    // --- behaviour -------------------------------------------------------------
    function toggle(open) {
      state.open = open === undefined ? !state.open : open;
      panel.hidden = !state.open;
      host.classList.toggle('open', state.open);
      launcher.setAttribute('aria-expanded', String(state.open));
      launcher.setAttribute('aria-label', state.open ? 'Close chat' : 'Open chat');
      launcher.classList.toggle('pcw-launcher-open', state.open);
      if (state.open) {
        list.stick();
        markRead();
        if (state.view === 'start') refreshAvailability().then(render);
        setTimeout(function () {
          var target = state.view === 'chat' ? input : body.querySelector('input, textarea, button');
          if (target) target.focus();
        }, 0);
      } else {
        launcher.focus();
      }
      updateUnread();
    }

    async function openSession(session) {
      if (state.session && state.session.id === session.id) {
        state.session = session;
        return render();
      }
      if (state.conversation) client.unsubscribe('conversation:' + state.conversation);
      state.session = session;
      state.conversation = session.conversation_id;
      list.byKey.clear();
      client.messages(session.conversation_id).forEach(function (m) { list.upsert(m); });
      state.view = over(session) ? (session.rating ? 'thanks' : 'rate') : 'chat';
      render();
      refreshQueue();
      // The whole conversation: messages, the session and every member's read cursor.
      await client.subscribe('conversation:' + session.conversation_id, { since: 0 });
      list.stick();
    }

    function sendCurrent() {
      var text = input.value.trim();
      if (!text || !state.conversation) return;
      input.value = '';
      autosize();
      state.typingSentAt = 0;
      client.send(state.conversation, text);
      list.stick();
      input.focus();
    }

    function canAttach() {
      return !!state.conversation && state.view === 'chat' && !composer.hidden;
    }

    function attachFiles(files) {
      if (!canAttach()) return;
      showAttachError(null);
      [].slice.call(files || []).forEach(function (file) {
        client.upload(state.conversation, file).catch(function () { /* shown by send_failed */ });
      });
      list.stick();
      input.focus();
    }

    function showAttachError(text) {
      var pinned = list.pinned;
      attachNote.hidden = !text;
      attachText.textContent = text || '';
      // The note takes room from the conversation: keep its newest line in view.
      if (pinned) log.scrollTop = log.scrollHeight;
    }

    function onComposerKey(e) {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        sendCurrent();
      }
    }

    function onComposerInput() {
      autosize();
      if (!state.conversation) return;
      var now = Date.now();
      if (input.value.trim() && now - state.typingSentAt > 2000) {
        state.typingSentAt = now;
        client.typing(state.conversation, true);
      } else if (!input.value.trim() && state.typingSentAt) {
        state.typingSentAt = 0;
        client.typing(state.conversation, false);
      }
    }

    function autosize() {
      input.style.height = 'auto';
      input.style.height = Math.min(input.scrollHeight, 120) + 'px';
    }

    async function endChat() {
      if (!state.session) return;
      try {
        var ended = await client.api('POST', '/v1/support/sessions/' + state.session.id + '/end');
        sessionChanged(ended);
      } catch (err) {
        banner.hidden = false;
        banner.textContent = 'Could not end the chat: ' + err.message;
      }
    }

    function sessionChanged(session) {
      if (!state.session || session.id !== state.session.id) {
        if (!over(session) && (!state.session || over(state.session) || state.view === 'start')) {
          openSession(session);
        }
        return;
      }
      var wasOver = over(state.session);
      state.session = Object.assign({}, state.session, session);
      if (over(session) && !wasOver && state.view === 'chat') {
        state.view = session.rating ? 'thanks' : 'rate';
      }
      if (session.rating && state.view === 'rate') state.view = 'thanks';
      render();
      refreshQueue();
    }

    function unreadCount() {
      var n = 0;
      list.messages().forEach(function (m) {
        if (m.id && m.sender_id !== me && m.kind !== 'system' && m.seq > state.myLastRead) n++;
      });
      return n;
    }

    function updateUnread() {
      var n = state.open ? 0 : unreadCount();
      badge.hidden = n === 0;
      badge.textContent = n > 9 ? '9+' : String(n);
      launcher.setAttribute('aria-label', (state.open ? 'Close chat' : 'Open chat') + (n ? ', ' + n + ' unread message' + (n > 1 ? 's' : '') : ''));
      var announce = n ? n + ' unread message' + (n > 1 ? 's' : '') : '';
      if (srUnread.textContent !== announce) srUnread.textContent = announce;
    }

    var readTimer = null;
    function markRead() {
      clearTimeout(readTimer);
      readTimer = setTimeout(function () {
        if (!state.open || document.visibilityState !== 'visible' || !state.conversation) return;
        var seq = list.lastSeq({ others: true });
        if (seq > state.myLastRead && client.state === 'open') {
          state.myLastRead = seq;
          client.markRead(state.conversation, seq).catch(function () {});
          updateUnread();
        }
      }, 150);
    }

    client.on('message', function (e) {
      var m = e.message;
      if (m.conversation_id !== state.conversation) return;
      list.upsert(m);
      if (m.sender_id !== me && m.id) {
        state.typers.delete(m.sender_id);
        renderTyping();
        markRead();
      }
      if (m.kind === 'system' && state.session && /joined/.test(m.body)) {
        client.api('GET', '/v1/support/sessions/' + state.session.id).then(sessionChanged).catch(function () {});
      }
      updateUnread();
    });
    client.on('send_failed', function (e) {
      if (e.item.conversation_id !== state.conversation) return;
      list.fail(e.item.client_msg_id, e.error);
      if (e.item.attachment) showAttachError(ui.attachmentError(e.error, e.item.attachment.filename));
    });
    client.on('upload', function (u) {
      if (u.conversation_id === state.conversation) list.progress(u);
    });
    client.on('member', function (f) {
      if (f.conversation_id !== state.conversation) return;
      receipts.frame(f);
      if (f.user_id === me) {
        state.myLastRead = Math.max(state.myLastRead, receipts.lastRead(me));
        updateUnread();
      }
      list.schedule();
    });
    client.on('typing', function (f) {
      if (f.conversation_id !== state.conversation || f.user_id === me) return;
      if (f.typing) state.typers.set(f.user_id, { name: f.name || 'Agent', until: Date.now() + 6000 });
      else state.typers.delete(f.user_id);
      renderTyping();
    });
    function renderTyping() {
      var names = [];
      state.typers.forEach(function (t) { if (t.until > Date.now()) names.push(t.name); });
      list.setTyping(names);
    }
    var typingTimer = setInterval(renderTyping, 2000);
    client.on('session', sessionChanged);
    client.on('tab', function (data) {
      if (data && data.type === 'session') sessionChanged(data.session);
    });
    client.on('state', function () {
      renderStatus();
      list.schedule();
      if (client.state === 'open') markRead();
    });
    client.on('outbox', function () { renderStatus(); });
    document.addEventListener('visibilitychange', markRead);

    client.connect();
    client.subscribe('inbox');
    render();
    var availabilityAsked = refreshAvailability(true);

    // The visitor's current chat: the newest open one, or an ended one still to rate.
    try {
      var page = await client.api('GET', '/v1/support/sessions?limit=5');
      var current = page.items.find(function (s) { return !over(s); }) ||
        page.items.find(function (s) {
          return over(s) && !s.rating && skippedRatings().indexOf(s.id) < 0 && Date.now() - new Date(s.ended_at || s.closed_at) < 3600e3;
        });
      if (current) await openSession(current);
      else { await availabilityAsked; state.view = 'start'; render(); }
    } catch (err) {
      state.view = 'start';
      render();
    }

    // --- the host page's commands ----------------------------------------------
    // Stops this instance for good (the widget starts again as someone else).
    function teardown() {
      commands = null;
      client.close();
      clearInterval(typingTimer);
      clearTimeout(queueTimer);
      clearTimeout(readTimer);
      document.removeEventListener('visibilitychange', markRead);
      host.remove();
    }

    async function identify(data) {
      data = data || {};
      var userId = data.user_id === undefined || data.user_id === null ? null : String(data.user_id);
      if (userId && data.user_hash && userId !== me && !refused[userId]) {
        // Someone else, vouched for by the host site: start again as them, with
        // the rest of this identify applied by the new instance.
        identity = { userId: userId, userHash: String(data.user_hash) };
        pending.unshift(['identify', data]);
        if (state.open) pending.push(['open']);
        teardown();
        return start(lib, ui);
      }
      if (userId && data.user_hash && userId === me && !(identity && identity.userId === me)) {
        // Already them (a host token): the server marks the contact verified.
        lib.verifiedToken(base, { userId: userId, userHash: String(data.user_hash) }).catch(function (err) {
          console.warn('pgchat widget: ' + userId + ' not verified (' + err.code + '): ' + err.message);
        });
      }
      var changes = {};
      if (data.email !== undefined) changes.email = data.email;
      if (data.name !== undefined) changes.name = data.name;
      var attributes = Object.assign({}, data.attributes || {});
      // A host user id not vouched for: kept on the contact, unverified.
      if (userId && userId !== me) attributes.user_id = userId;
      if (Object.keys(attributes).length) changes.attributes = attributes;
      if (!Object.keys(changes).length) return;
      try {
        await client.api('PATCH', '/v1/contacts/me', changes);
        if (changes.email) refreshAvailability(true).then(render);
      } catch (err) {
        console.warn('pgchat widget: identify was not saved (' + err.code + '): ' + err.message);
      }
    }

    commands = {
      open: function () { toggle(true); },
      close: function () { toggle(false); },
      toggle: function () { toggle(); },
      identify: function (data) {
        identify(data).catch(function (err) { console.warn('pgchat widget: identify failed', err); });
      },
    };
    api.client = client;
    var queued = pending.splice(0);
    queued.forEach(function (c) { command(c[0], c[1]); });
    if (settings.open === '1' || settings.open === true) toggle(true);
    host.dataset.ready = 'true';
    host.dataset.user = me;
  }
})();

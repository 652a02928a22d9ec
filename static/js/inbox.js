/*
 * Parley inbox: live updates over the websocket, the composer, keyboard shortcuts.
 *
 * Plain JavaScript, no framework, no build step. Customer text is never assigned to innerHTML:
 * the page only inserts HTML fragments the server rendered (and escaped), and sets any other
 * text with textContent. Without the websocket the page still works; it shows a banner and
 * polls now and then until the connection is back.
 */
(function () {
  "use strict";

  var workspace = document.getElementById("workspace");
  if (!workspace) {
    return;
  }

  var RECONNECT_BASE_MS = 500;
  var RECONNECT_CAP_MS = 5000;
  var TYPING_EVERY_MS = 2000;
  var TYPING_SHOWN_MS = 4000;
  var POLL_WHILE_OFFLINE_MS = 20000;
  var BASE_TITLE = document.title;

  var state = {
    userId: Number(workspace.dataset.userId) || null,
    lastSeq: 0,
    everConnected: false,
    socket: null,
    attempts: 0,
    reconnectTimer: null,
    pollTimer: null,
    viewing: null,
    presence: {}, // conversation id -> [{user_id, name}]
    typing: {}, // user id -> {name, timer}
    lastTypingSent: 0,
    assignees: {}, // conversation id -> assignee id (null: unassigned)
    pendingInbound: {},
    unseen: 0,
    listTimer: null,
    conversationTimer: null,
    refocusComposer: false,
    panesNode: null,
    fetchingMessages: null,
    fetchMessagesAgain: false,
    // Messages whose update arrived before their row was on the page: refreshed once it is.
    updatedBeforeShown: {},
  };

  // ---- small helpers --------------------------------------------------------------------

  function byId(id) {
    return document.getElementById(id);
  }

  function all(selector, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(selector));
  }

  function panes() {
    return byId("conversation-panes");
  }

  function openConversationId() {
    var element = panes();
    var id = element ? Number(element.dataset.conversationId) : 0;
    return id > 0 ? id : null;
  }

  function process(node) {
    if (window.htmx && node && node.nodeType === 1) {
      window.htmx.process(node);
    }
  }

  /* A server-rendered, escaped fragment, parsed without running anything in it. */
  function parseFragment(html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  }

  function fetchFragment(url, headers) {
    // HX-Current-URL, as htmx sends it: signed out, the server sends the page (not this
    // fragment's URL) to the login page as the place to come back to.
    var allHeaders = Object.assign(
      { "HX-Request": "true", "HX-Current-URL": window.location.href },
      headers || {},
    );
    return fetch(url, { headers: allHeaders, credentials: "same-origin" }).then(function (response) {
      var redirect = response.headers.get("HX-Redirect");
      if (redirect) {
        window.location.assign(redirect); // signed out meanwhile: to the login page
        return null;
      }
      if (response.status === 404) {
        return null;
      }
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.text();
    });
  }

  function replaceById(fragment, id) {
    var fresh = fragment.getElementById(id);
    var current = byId(id);
    if (!fresh || !current) {
      return null;
    }
    current.replaceWith(fresh);
    process(fresh);
    return fresh;
  }

  function showNotice(text, kind) {
    var notices = byId("notices");
    if (!notices) {
      return;
    }
    var notice = document.createElement("p");
    notice.className = "notice notice-" + (kind || "info");
    notice.setAttribute("role", kind === "error" ? "alert" : "status");
    notice.textContent = text;
    notices.appendChild(notice);
    if (kind !== "error") {
      setTimeout(function () {
        notice.remove();
      }, 5000);
    }
  }

  // ---- the conversation list ------------------------------------------------------------

  function listUrl() {
    var nav = byId("conversation-list");
    var params = new URLSearchParams(((nav && nav.dataset.listQuery) || "").replace(/^\?/, ""));
    var open = openConversationId();
    if (open) {
      params.set("open", String(open));
    }
    var query = params.toString();
    return workspace.dataset.rowsUrl + (query ? "?" + query : "");
  }

  function rememberAssignees() {
    all("#conversation-rows .row").forEach(function (row) {
      var id = Number(row.dataset.conversationId);
      var assignee = row.dataset.assigneeId ? Number(row.dataset.assigneeId) : null;
      state.assignees[id] = assignee;
    });
    var element = panes();
    var open = openConversationId();
    if (element && open) {
      state.assignees[open] = element.dataset.assigneeId ? Number(element.dataset.assigneeId) : null;
    }
  }

  function markOpenRow() {
    var open = openConversationId();
    all("#conversation-rows .row").forEach(function (row) {
      var isOpen = Number(row.dataset.conversationId) === open;
      row.classList.toggle("is-open", isOpen);
      var link = row.querySelector(".row-link");
      if (link) {
        if (isOpen) {
          link.setAttribute("aria-current", "true");
        } else {
          link.removeAttribute("aria-current");
        }
      }
    });
  }

  /* Opening a conversation reads it: its row's unread count goes (the server agrees). */
  function markRowRead(conversationId) {
    var row = conversationId ? byId("row-" + conversationId) : null;
    if (!row) {
      return;
    }
    row.classList.remove("is-unread");
    var badge = row.querySelector(".unread");
    if (badge) {
      badge.remove();
    }
  }

  function refreshList() {
    return fetchFragment(listUrl())
      .then(function (html) {
        if (html === null) {
          return;
        }
        var active = document.activeElement;
        var focusedRow = active && active.closest ? active.closest(".row") : null;
        var focusedId = focusedRow ? focusedRow.id : null;
        var fragment = parseFragment(html);
        replaceById(fragment, "view-tabs");
        replaceById(fragment, "list-live");
        rememberAssignees();
        markOpenRow();
        updateSlaClocks();
        if (focusedId && byId(focusedId)) {
          byId(focusedId).querySelector(".row-link").focus({ preventScroll: true });
        }
      })
      .catch(function () {
        /* the next event or poll tries again */
      });
  }

  function scheduleListRefresh(delay) {
    clearTimeout(state.listTimer);
    state.listTimer = setTimeout(refreshList, delay === undefined ? 250 : delay);
  }

  /* One row fetched again (an SLA clock changed state). A list sorted or filtered by SLA may
     reorder or drop it: that list is fetched whole instead. */
  function refreshRow(conversationId) {
    var current = byId("row-" + conversationId);
    var nav = byId("conversation-list");
    var query = (nav && nav.dataset.listQuery) || "";
    if (!current || /[?&](sla|sort)=/.test(query)) {
      scheduleListRefresh();
      return;
    }
    fetchFragment(workspace.dataset.rowsUrl + conversationId + "/" + query)
      .then(function (html) {
        var now = byId("row-" + conversationId);
        if (html === null) {
          scheduleListRefresh(0); // no longer ours to list
          return;
        }
        var fresh = parseFragment(html).getElementById("row-" + conversationId);
        if (fresh && now) {
          now.replaceWith(fresh);
          process(fresh);
          markOpenRow();
          updateSlaClocks();
        }
      })
      .catch(function () {
        scheduleListRefresh();
      });
  }

  // ---- SLA countdowns -------------------------------------------------------------------

  function slaSpan(ms) {
    var minutes = Math.max(1, Math.floor(Math.abs(ms) / 60000));
    if (minutes < 60) {
      return minutes + " min";
    }
    if (minutes < 48 * 60) {
      return Math.floor(minutes / 60) + " h";
    }
    return Math.floor(minutes / (24 * 60)) + " d";
  }

  /* "First reply due in 4 min" counts down between server updates; past the deadline it
     reads "overdue" at once (the breach event follows within a second or two). */
  function updateSlaClocks() {
    var now = Date.now();
    all(".sla-clock[data-sla-due]").forEach(function (element) {
      var clockState = element.dataset.slaState;
      if (clockState === "met" || clockState === "paused") {
        return;
      }
      var due = Date.parse(element.dataset.slaDue);
      if (isNaN(due)) {
        return;
      }
      var label = element.dataset.slaLabel || "SLA";
      var left = due - now;
      element.textContent =
        clockState === "breached" || left <= 0
          ? label + " overdue " + slaSpan(-left)
          : label + " due in " + slaSpan(left);
    });
  }

  function slaBreached(conversationId) {
    var assignee = state.assignees[conversationId];
    if (assignee !== state.userId || lookingAt(conversationId)) {
      return;
    }
    if (!("Notification" in window) || Notification.permission !== "granted") {
      return;
    }
    setTimeout(function () {
      notifyAbout(conversationId, {
        fallbackTitle: "SLA breached",
        bodySelector: ".sla-clock",
        fallbackBody: "An SLA deadline passed.",
        tag: "parley-sla-" + conversationId,
      });
    }, 700);
  }

  // ---- the open thread ------------------------------------------------------------------

  function threadList() {
    return byId("thread-messages");
  }

  function lastMessageId() {
    var list = threadList();
    if (!list) {
      return 0;
    }
    return all("[data-message-id]", list).reduce(function (max, item) {
      return Math.max(max, Number(item.dataset.messageId) || 0);
    }, 0);
  }

  function nearBottom() {
    var scroller = byId("thread-scroll");
    return !scroller || scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120;
  }

  function scrollThreadToBottom() {
    var scroller = byId("thread-scroll");
    if (scroller) {
      scroller.scrollTop = scroller.scrollHeight;
    }
  }

  function insertMessages(list, fragment) {
    var stick = nearBottom();
    Array.prototype.slice.call(fragment.children).forEach(function (node) {
      if (node.classList.contains("day-separator")) {
        var separators = all(".day-separator", list);
        var last = separators[separators.length - 1];
        if (!last || last.dataset.day !== node.dataset.day) {
          list.appendChild(node);
        }
        return;
      }
      var existing = byId(node.id);
      if (existing) {
        existing.replaceWith(node);
      } else {
        list.appendChild(node);
      }
      process(node);
    });
    var empty = list.parentElement && list.parentElement.querySelector(".empty-state");
    if (empty && list.querySelector("[data-message-id]")) {
      empty.remove();
    }
    if (stick) {
      scrollThreadToBottom();
    }
  }

  /* One fetch at a time: events arriving meanwhile ask for one more round afterwards. */
  function fetchNewMessages() {
    if (state.fetchingMessages) {
      state.fetchMessagesAgain = true;
      return state.fetchingMessages;
    }
    state.fetchingMessages = fetchNewMessagesOnce().then(function () {
      state.fetchingMessages = null;
      if (state.fetchMessagesAgain) {
        state.fetchMessagesAgain = false;
        return fetchNewMessages();
      }
      return undefined;
    });
    return state.fetchingMessages;
  }

  function fetchNewMessagesOnce() {
    var element = panes();
    var list = threadList();
    var conversationId = openConversationId();
    if (!element || !list || !conversationId || !element.dataset.messagesUrl) {
      return Promise.resolve();
    }
    var url = element.dataset.messagesUrl + "?after=" + lastMessageId();
    return fetchFragment(url)
      .then(function (html) {
        if (html === null) {
          conversationGone();
          return;
        }
        if (openConversationId() !== conversationId || !threadList()) {
          return;
        }
        insertMessages(threadList(), parseFragment(html));
        Object.keys(state.updatedBeforeShown).forEach(function (messageId) {
          if (byId("message-" + messageId)) {
            delete state.updatedBeforeShown[messageId];
            refreshMessage(messageId);
          }
        });
      })
      .catch(function () {});
  }

  function refreshMessage(messageId) {
    var element = panes();
    var current = byId("message-" + messageId);
    var conversationId = openConversationId();
    if (!element || !conversationId) {
      return;
    }
    if (!current) {
      // A fetch in flight may bring this row in its state from before the update: remember
      // the update and refresh the row once it is on the page.
      state.updatedBeforeShown[messageId] = true;
      fetchNewMessages();
      return;
    }
    fetchFragment(element.dataset.messageUrlPrefix + messageId + "/")
      .then(function (html) {
        if (html === null || openConversationId() !== conversationId) {
          return;
        }
        var fresh = parseFragment(html).getElementById("message-" + messageId);
        var now = byId("message-" + messageId);
        if (fresh && now) {
          now.replaceWith(fresh);
          process(fresh);
        }
      })
      .catch(function () {});
  }

  /* Header, actions, side panel and reply window of the open conversation, fetched again;
     with `thread`, the whole history too. The composer (and its draft) is never replaced. */
  function refreshConversation(options) {
    var element = panes();
    var conversationId = openConversationId();
    if (!element || !conversationId) {
      return Promise.resolve();
    }
    var withThread = options && options.thread;
    return fetchFragment(element.dataset.panesUrl, { "HX-Target": "conversation-panes" })
      .then(function (html) {
        if (html === null) {
          conversationGone();
          return;
        }
        if (openConversationId() !== conversationId) {
          return;
        }
        var fragment = parseFragment(html);
        var freshPanes = fragment.getElementById("conversation-panes");
        if (freshPanes && panes()) {
          panes().dataset.assigneeId = freshPanes.dataset.assigneeId || "";
        }
        replaceById(fragment, "thread-header");
        replaceById(fragment, "side-panel");
        replaceById(fragment, "composer-status");
        if (withThread) {
          replaceById(fragment, "thread-scroll");
          scrollThreadToBottom();
        }
        rememberAssignees();
        applyComposerState();
        renderPresence();
        renderTyping();
        updateCountdown();
        updateSlaClocks();
      })
      .catch(function () {});
  }

  /* A thread swapped in by htmx is as old as its request: events that arrived meanwhile were
     applied to the thread it replaced. Fetch what may have changed since: newer messages, and
     replies still queued (the worker may have sent them already). */
  function catchUpThread() {
    var list = threadList();
    if (!list) {
      return;
    }
    fetchNewMessages();
    all(".tick-queued", list).forEach(function (tick) {
      var item = tick.closest("[data-message-id]");
      if (item) {
        refreshMessage(Number(item.dataset.messageId));
      }
    });
  }

  function scheduleConversationRefresh() {
    clearTimeout(state.conversationTimer);
    state.conversationTimer = setTimeout(refreshConversation, 300);
  }

  /* The open conversation is no longer ours to see (handed to a colleague): show the empty
     pane with a note, and the list without it. */
  function conversationGone() {
    var url = workspace.dataset.inboxUrl + (byId("conversation-list").dataset.listQuery || "");
    fetchFragment(url, { "HX-Target": "conversation-panes" })
      .then(function (html) {
        if (html === null) {
          return;
        }
        var fresh = parseFragment(html).getElementById("conversation-panes");
        if (fresh && panes()) {
          panes().replaceWith(fresh);
          process(fresh);
          history.replaceState(history.state, "", url);
          onPanesChanged();
          showNotice("That conversation is now assigned to someone else.", "info");
        }
      })
      .catch(function () {});
    scheduleListRefresh(0);
  }

  function catchUp() {
    scheduleListRefresh(0);
    fetchNewMessages();
  }

  function resync() {
    refreshList();
    refreshConversation({ thread: true });
  }

  // ---- presence and typing --------------------------------------------------------------

  function names(list) {
    if (list.length === 1) {
      return list[0];
    }
    if (list.length === 2) {
      return list[0] + " and " + list[1];
    }
    return list.slice(0, 2).join(", ") + " and " + (list.length - 2) + " more";
  }

  function renderPresence() {
    var element = byId("presence");
    var open = openConversationId();
    if (!element) {
      return;
    }
    var viewers = (state.presence[open] || []).filter(function (viewer) {
      return viewer.user_id !== state.userId;
    });
    var shown = viewers.map(function (viewer) {
      return String(viewer.name || "Someone");
    });
    element.textContent = shown.length
      ? names(shown) + (shown.length === 1 ? " is viewing" : " are viewing")
      : "";
  }

  function renderTyping() {
    var element = byId("typing-indicator");
    if (!element) {
      return;
    }
    var typing = Object.keys(state.typing).map(function (key) {
      return state.typing[key].name;
    });
    element.textContent = typing.length
      ? names(typing) + (typing.length === 1 ? " is replying…" : " are replying…")
      : "";
  }

  function clearTyping() {
    Object.keys(state.typing).forEach(function (key) {
      clearTimeout(state.typing[key].timer);
    });
    state.typing = {};
    renderTyping();
  }

  function onPresence(frame) {
    state.presence[frame.conversation_id] = Array.isArray(frame.viewers) ? frame.viewers : [];
    if (frame.conversation_id === openConversationId()) {
      renderPresence();
    }
  }

  function onTyping(frame) {
    if (frame.conversation_id !== openConversationId() || frame.user_id === state.userId) {
      return;
    }
    var key = String(frame.user_id);
    if (state.typing[key]) {
      clearTimeout(state.typing[key].timer);
    }
    state.typing[key] = {
      name: String(frame.name || "Someone"),
      timer: setTimeout(function () {
        delete state.typing[key];
        renderTyping();
      }, TYPING_SHOWN_MS),
    };
    renderTyping();
  }

  function sendTyping() {
    var open = openConversationId();
    var now = Date.now();
    if (!open || now - state.lastTypingSent < TYPING_EVERY_MS) {
      return;
    }
    if (send({ type: "typing", conversation_id: open })) {
      state.lastTypingSent = now;
    }
  }

  // ---- title badge and browser notifications --------------------------------------------

  function updateTitle() {
    document.title = state.unseen > 0 ? "(" + state.unseen + ") " + BASE_TITLE : BASE_TITLE;
  }

  function markSeen() {
    if (state.unseen) {
      state.unseen = 0;
      updateTitle();
    }
  }

  function lookingAt(conversationId) {
    return (
      conversationId === openConversationId() &&
      document.visibilityState === "visible" &&
      document.hasFocus()
    );
  }

  function inboundArrived(conversationId, assigneeId) {
    if (assigneeId !== null && assigneeId !== state.userId) {
      return; // a colleague's conversation (supervisors see every event)
    }
    if (lookingAt(conversationId)) {
      return;
    }
    state.unseen += 1;
    updateTitle();
    // Let the list refresh first, so the notification can name the customer.
    setTimeout(function () {
      notify(conversationId);
    }, 700);
  }

  function noteInbound(conversationId) {
    if (Object.prototype.hasOwnProperty.call(state.assignees, conversationId)) {
      inboundArrived(conversationId, state.assignees[conversationId]);
    } else {
      state.pendingInbound[conversationId] = true; // decided by the conversation event next
    }
  }

  function settleInbound(conversationId) {
    if (state.pendingInbound[conversationId]) {
      delete state.pendingInbound[conversationId];
      var assignee = state.assignees[conversationId];
      inboundArrived(conversationId, assignee === undefined ? null : assignee);
    }
  }

  function notify(conversationId) {
    if (!("Notification" in window) || Notification.permission !== "granted") {
      return;
    }
    if (document.visibilityState === "visible" && document.hasFocus()) {
      return;
    }
    notifyAbout(conversationId, {
      fallbackTitle: "New message",
      bodySelector: ".row-preview",
      fallbackBody: "A customer wrote.",
      tag: "parley-conversation-" + conversationId,
    });
  }

  function setUpNotificationButton() {
    var button = byId("enable-notifications");
    if (!button) {
      return;
    }
    var supported = "Notification" in window;
    button.hidden = !supported || Notification.permission !== "default";
    button.addEventListener("click", function () {
      Notification.requestPermission().then(function () {
        button.hidden = Notification.permission !== "default";
      });
    });
  }

  // ---- the websocket --------------------------------------------------------------------

  function socketUrl() {
    var scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + location.host + workspace.dataset.wsPath;
  }

  function send(frame) {
    var socket = state.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      return false;
    }
    socket.send(JSON.stringify(frame));
    return true;
  }

  function sendView() {
    send({ type: "view", conversation_id: openConversationId() });
  }

  function sendResume(socket) {
    if (socket.parleyResumed) {
      return;
    }
    socket.parleyResumed = true;
    send({ type: "resume", last_seq: state.lastSeq });
  }

  function setConnected(live) {
    var banner = byId("connection-banner");
    if (live) {
      banner.hidden = true;
      banner.textContent = "";
      clearInterval(state.pollTimer);
      state.pollTimer = null;
      return;
    }
    banner.textContent = "Reconnecting… Live updates are paused; everything else keeps working.";
    banner.hidden = false;
    if (!state.pollTimer) {
      state.pollTimer = setInterval(catchUp, POLL_WHILE_OFFLINE_MS);
    }
  }

  function scheduleReconnect() {
    clearTimeout(state.reconnectTimer);
    var ceiling = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * Math.pow(2, state.attempts));
    var delay = ceiling * (0.5 + Math.random() * 0.5);
    state.attempts += 1;
    state.reconnectTimer = setTimeout(connect, delay);
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    if (state.socket) {
      return;
    }
    var socket;
    try {
      socket = new WebSocket(socketUrl());
    } catch (error) {
      setConnected(false);
      scheduleReconnect();
      return;
    }
    state.socket = socket;
    var helloTimer = null;
    socket.addEventListener("open", function () {
      state.attempts = 0;
      setConnected(true);
      // The server greets first; should it not, resume anyway.
      helloTimer = setTimeout(function () {
        sendResume(socket);
        sendView();
      }, 1000);
    });
    socket.addEventListener("message", function (message) {
      var frame;
      try {
        frame = JSON.parse(message.data);
      } catch (error) {
        return;
      }
      if (!frame || typeof frame !== "object") {
        return;
      }
      if (frame.type === "hello") {
        clearTimeout(helloTimer);
        onHello(socket, frame);
      } else if (frame.type === "event") {
        onEvent(frame);
      } else if (frame.type === "resync") {
        if (typeof frame.seq === "number") {
          state.lastSeq = frame.seq;
        }
        resync();
      } else if (frame.type === "presence") {
        onPresence(frame);
      } else if (frame.type === "typing") {
        onTyping(frame);
      }
    });
    socket.addEventListener("close", function () {
      clearTimeout(helloTimer);
      if (state.socket === socket) {
        state.socket = null;
        setConnected(false);
        scheduleReconnect();
      }
    });
  }

  function onHello(socket, frame) {
    var first = !state.everConnected;
    if (frame.user && frame.user.id) {
      state.userId = frame.user.id;
    }
    if (first && typeof frame.seq === "number") {
      // The page was rendered a moment ago: start from now, and catch up on that moment.
      state.lastSeq = Math.max(state.lastSeq, frame.seq);
    }
    sendResume(socket);
    sendView();
    if (first) {
      state.everConnected = true;
      catchUp();
    }
  }

  /* A browser notification about a conversation, titled with its customer's name from the
     list row; clicking it opens the conversation. */
  function notifyAbout(conversationId, options) {
    var row = byId("row-" + conversationId);
    var name = row && row.querySelector(".row-name");
    var body = row && row.querySelector(options.bodySelector);
    var notification = new Notification(name ? name.textContent : options.fallbackTitle, {
      body: body ? body.textContent : options.fallbackBody,
      tag: options.tag,
    });
    notification.onclick = function () {
      window.focus();
      var link = row && row.querySelector(".row-link");
      if (link) {
        link.click();
      }
      notification.close();
    };
  }

  function onEvent(frame) {
    if (typeof frame.seq === "number") {
      state.lastSeq = Math.max(state.lastSeq, frame.seq);
    }
    var conversationId = frame.conversation_id;
    var payload = frame.payload || {};
    var open = openConversationId();
    switch (frame.event) {
      case "message.created":
        if (conversationId === open) {
          fetchNewMessages();
        }
        if (payload.direction === "inbound" && payload.kind !== "note") {
          noteInbound(conversationId);
        }
        scheduleListRefresh();
        break;
      case "message.updated":
        if (conversationId === open) {
          refreshMessage(payload.id);
        }
        break;
      case "conversation.created":
        if (!Object.prototype.hasOwnProperty.call(state.assignees, conversationId)) {
          state.assignees[conversationId] = null;
        }
        settleInbound(conversationId);
        scheduleListRefresh();
        break;
      case "sla.warning":
      case "sla.breached":
        refreshRow(conversationId);
        if (conversationId === open) {
          scheduleConversationRefresh();
        }
        if (frame.event === "sla.breached") {
          slaBreached(conversationId);
        }
        break;
      case "conversation.updated":
        if (Object.prototype.hasOwnProperty.call(payload, "assignee_id")) {
          state.assignees[conversationId] = payload.assignee_id === null ? null : payload.assignee_id;
        }
        settleInbound(conversationId);
        scheduleListRefresh();
        if (conversationId === open) {
          scheduleConversationRefresh();
        }
        break;
      default:
        scheduleListRefresh();
    }
  }

  // ---- the composer ---------------------------------------------------------------------

  function composer() {
    return byId("composer");
  }

  function draftKey(conversationId) {
    return "parley:draft:" + workspace.dataset.wsPath + conversationId;
  }

  function saveDraft() {
    var form = composer();
    var open = openConversationId();
    var text = byId("composer-text");
    if (!form || !open || !text) {
      return;
    }
    try {
      if (text.value) {
        sessionStorage.setItem(draftKey(open), text.value);
      } else {
        sessionStorage.removeItem(draftKey(open));
      }
    } catch (error) {
      /* storage full or disabled: drafts just do not survive navigation */
    }
  }

  function restoreDraft() {
    var open = openConversationId();
    var text = byId("composer-text");
    if (!open || !text || text.value) {
      return;
    }
    try {
      var saved = sessionStorage.getItem(draftKey(open));
      if (saved) {
        text.value = saved;
      }
    } catch (error) {
      /* nothing saved */
    }
  }

  function forgetDraft(conversationId) {
    try {
      sessionStorage.removeItem(draftKey(conversationId));
    } catch (error) {
      /* nothing saved */
    }
  }

  function applyComposerState() {
    var form = composer();
    if (!form) {
      return;
    }
    var status = byId("composer-status");
    var canSend = !status || status.dataset.canSend !== "false";
    var note = form.dataset.mode === "note";
    var text = byId("composer-text");
    var sendButton = byId("composer-send");
    var blocked = !note && !canSend;
    if (text) {
      text.disabled = blocked;
    }
    if (sendButton) {
      sendButton.disabled = blocked;
    }
    var visibility = form.querySelector(".visibility-choice");
    if (visibility) {
      visibility.hidden = note;
    }
  }

  function setMode(mode) {
    var form = composer();
    if (!form) {
      return;
    }
    var note = mode === "note";
    form.dataset.mode = note ? "note" : "reply";
    form.classList.toggle("composer-note", note);
    form.classList.toggle("composer-reply", !note);
    byId("composer-mode").value = form.dataset.mode;
    all(".mode-button", form).forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.dataset.mode === form.dataset.mode));
    });
    var text = byId("composer-text");
    text.setAttribute(
      "aria-label",
      note ? "Internal note (only your team sees it)" : form.dataset.replyLabel,
    );
    text.placeholder = note ? "Write a note for your team…" : "Write a reply…";
    byId("composer-send").textContent = note ? "Add note" : "Send";
    applyComposerState();
  }

  function focusComposer(mode) {
    if (!composer()) {
      return;
    }
    setMode(mode);
    var text = byId("composer-text");
    if (!text.disabled) {
      text.focus();
    }
  }

  function updateCountdown() {
    var status = byId("composer-status");
    if (!status || status.dataset.state !== "open" || !status.dataset.closesAt) {
      return;
    }
    var left = Date.parse(status.dataset.closesAt) - Date.now();
    if (isNaN(left)) {
      return;
    }
    if (left <= 0) {
      delete status.dataset.closesAt;
      refreshConversation();
      return;
    }
    var minutes = Math.max(1, Math.floor(left / 60000));
    var span = minutes < 60 ? minutes + " min" : Math.floor(minutes / 60) + " h";
    status.textContent = "Reply window open: closes in " + span;
  }

  // ---- relative times -------------------------------------------------------------------

  function updateRelativeTimes() {
    var now = Date.now();
    all("time[data-relative]").forEach(function (element) {
      var then = Date.parse(element.getAttribute("datetime"));
      if (isNaN(then)) {
        return;
      }
      var seconds = (now - then) / 1000;
      if (seconds < 60) {
        element.textContent = "now";
      } else if (seconds < 3600) {
        element.textContent = Math.floor(seconds / 60) + " min";
      } else if (seconds < 6 * 3600) {
        element.textContent = Math.floor(seconds / 3600) + " h";
      }
    });
  }

  // ---- keyboard shortcuts ---------------------------------------------------------------

  function isTyping(target) {
    return Boolean(
      target &&
        target.closest &&
        target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']"),
    );
  }

  function moveInList(step) {
    var links = all("#conversation-rows .row-link");
    if (!links.length) {
      return;
    }
    var index = links.indexOf(document.activeElement);
    if (index === -1) {
      index = links.findIndex(function (link) {
        return link.getAttribute("aria-current") === "true";
      });
    }
    var next = index === -1 ? 0 : Math.min(links.length - 1, Math.max(0, index + step));
    var link = links[next];
    link.focus();
    link.scrollIntoView({ block: "nearest" });
    if (next !== index || link.getAttribute("aria-current") !== "true") {
      link.click();
    }
  }

  function clickShortcut(key) {
    var button = document.querySelector('[data-shortcut="' + key + '"]');
    if (button && !button.disabled) {
      button.click();
    }
  }

  function openHelp() {
    var dialog = byId("shortcuts-help");
    if (dialog && !dialog.open) {
      dialog.showModal();
    }
  }

  function onShortcutKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (isTyping(event.target)) {
      if (event.key === "Escape" && event.target.blur) {
        event.target.blur();
      }
      return;
    }
    if (document.querySelector("dialog[open]")) {
      return; // the dialog handles its own keys (Esc closes it)
    }
    if (event.key === "Escape" && workspace.classList.contains("side-open")) {
      setSidePanel(false);
      event.preventDefault();
      return;
    }
    switch (event.key) {
      case "j":
        moveInList(1);
        break;
      case "k":
        moveInList(-1);
        break;
      case "r":
        focusComposer("reply");
        break;
      case "n":
        focusComposer("note");
        break;
      case "e":
        clickShortcut("e");
        break;
      case "a":
        clickShortcut("a");
        break;
      case "/":
        if (byId("list-search-q")) {
          byId("list-search-q").focus();
          byId("list-search-q").select();
        }
        break;
      case "?":
        openHelp();
        break;
      default:
        return;
    }
    event.preventDefault();
  }

  document.addEventListener("keydown", onShortcutKey);

  /* Keys pressed while this script was still loading (early-keys.js kept them: shortcuts, and
     Enter in the composer), carried out once htmx has taken over the page, so that j opens a
     thread in place and Enter sends through the same path as ever. */
  function replayEarlyKeys() {
    var kept = window.parleyTakeEarlyKeys ? window.parleyTakeEarlyKeys() : [];
    kept.forEach(function (press) {
      var enter = press.key === "Enter";
      if (enter && !(press.target.isConnected && press.target.value === press.text)) {
        return; // the text changed after Enter (or the composer is gone): do not send it
      }
      var event = {
        key: press.key,
        // A shortcut acts where the focus is now: if an earlier one put it in a text field,
        // onShortcutKey sees the agent typing and leaves the key alone.
        target: enter ? press.target : document.activeElement || document.body,
        defaultPrevented: false,
        preventDefault: function () {},
      };
      if (enter) {
        onComposerKey(event);
      } else {
        onShortcutKey(event);
      }
    });
  }

  // ---- delegated events -----------------------------------------------------------------

  /* Narrow screens: the side panel slides over the thread. */
  function setSidePanel(open) {
    workspace.classList.toggle("side-open", open);
    all(".side-toggle").forEach(function (toggle) {
      toggle.setAttribute("aria-expanded", String(open));
    });
    var target = open ? document.querySelector("#side-panel .side-close") : null;
    if (target) {
      target.focus();
    } else if (!open && document.querySelector(".side-toggle")) {
      document.querySelector(".side-toggle").focus({ preventScroll: true });
    }
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!target || !target.closest) {
      return;
    }
    var modeButton = target.closest(".mode-button");
    if (modeButton) {
      focusComposer(modeButton.dataset.mode);
      return;
    }
    if (target.closest("#open-shortcuts")) {
      openHelp();
      return;
    }
    if (target.closest(".side-toggle")) {
      setSidePanel(!workspace.classList.contains("side-open"));
      return;
    }
    if (target.closest(".side-close")) {
      setSidePanel(false);
      return;
    }
    // Links customers wrote open in a new tab that cannot reach back into the inbox.
    var link = target.closest(".message-text a[href]");
    if (link) {
      event.preventDefault();
      window.open(link.href, "_blank", "noopener,noreferrer");
    }
  });

  function onComposerKey(event) {
    var target = event.target;
    if (!target || target.id !== "composer-text") {
      return;
    }
    if (event.key === "Enter" && !event.shiftKey && !event.altKey && !event.isComposing) {
      event.preventDefault();
      var form = composer();
      var sendButton = byId("composer-send");
      if (form && target.value.trim() && !(sendButton && sendButton.disabled)) {
        form.requestSubmit();
      }
    }
  }

  document.addEventListener("keydown", onComposerKey);

  document.addEventListener("input", function (event) {
    if (event.target && event.target.id === "composer-text") {
      sendTyping();
      saveDraft();
    }
  });

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target && target.matches && target.matches("[data-autosubmit]") && target.form) {
      target.form.requestSubmit();
    }
  });

  // ---- htmx swaps -----------------------------------------------------------------------

  function onPanesChanged() {
    var open = openConversationId();
    var swapped = panes() !== state.panesNode;
    state.panesNode = panes();
    workspace.classList.toggle("has-conversation", Boolean(open));
    if (swapped) {
      workspace.classList.remove("side-open");
    }
    if (open !== state.viewing) {
      state.viewing = open;
      clearTyping();
      sendView();
      markSeen();
      markRowRead(open);
    }
    markOpenRow();
    rememberAssignees();
    restoreDraft();
    applyComposerState();
    renderPresence();
    renderTyping();
    updateCountdown();
    if (swapped) {
      scrollThreadToBottom();
      catchUpThread();
    }
    if (state.refocusComposer) {
      state.refocusComposer = false;
      var text = byId("composer-text");
      if (text && !text.disabled) {
        text.focus();
      }
    }
  }

  document.body.addEventListener("htmx:beforeRequest", function (event) {
    var source = event.detail && event.detail.elt;
    if (source && source.id === "composer") {
      state.refocusComposer = document.activeElement === byId("composer-text");
    }
  });

  // The composer's own events fire on a form the swap has already removed, so watch the swap.
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    var config = event.detail && event.detail.requestConfig;
    var status = event.detail && event.detail.xhr ? event.detail.xhr.status : 0;
    if (config && config.elt && config.elt.id === "composer" && status >= 200 && status < 300) {
      forgetDraft(openConversationId()); // sent: the draft is gone for good
    }
  });

  document.body.addEventListener("htmx:afterSettle", function () {
    if (panes()) {
      onPanesChanged();
    }
  });

  document.body.addEventListener("parley:list-stale", function () {
    scheduleListRefresh(0);
  });

  document.body.addEventListener("htmx:responseError", function (event) {
    var status = event.detail && event.detail.xhr ? event.detail.xhr.status : 0;
    if (status === 404) {
      conversationGone();
      return;
    }
    showNotice("Something went wrong (" + status + "). Please try again.", "error");
  });

  document.body.addEventListener("htmx:sendError", function () {
    showNotice("Could not reach Parley. Check your connection and try again.", "error");
  });

  // ---- start ----------------------------------------------------------------------------

  window.addEventListener("focus", markSeen);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      markSeen();
    }
  });
  window.addEventListener("online", function () {
    state.attempts = 0;
    connect();
  });

  setUpNotificationButton();
  onPanesChanged();
  setInterval(function () {
    updateRelativeTimes();
    updateCountdown();
  }, 30000);
  updateSlaClocks();
  setInterval(updateSlaClocks, 15000);
  connect();
  // A deferred script runs before DOMContentLoaded, whose listeners run in order: htmx's first.
  if (document.readyState === "complete") {
    replayEarlyKeys();
  } else {
    document.addEventListener("DOMContentLoaded", replayEarlyKeys);
  }
})();

// Live pages: one native EventSource per page ([data-live-src]); each event's data is HTML whose
// top-level elements update the page's elements with the same id. Fragment markers:
//   data-title="..."             sets the tab title
//   data-announce="..."          said once by the page's live region (#live-announcer) when it changes
//   data-live-append="list-id"   a new element joins the end of that list (skipped if its data-key
//                                repeats the list's last item); data-live-prepend joins the start
//   data-live-unbounded (on a list) keeps every appended element (the streamed draft)
//   data-live-keep (on a child)  keep the page's copy of that child (e.g. a title the event lacks)
//   <template>                   wraps table rows/cells; its children are swapped as above
(function () {
  "use strict";

  var MAX_LIST_ITEMS = 200;

  function parseFragment(html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  }

  // An update patches the page's element in place instead of replacing it: attributes and text change,
  // nodes that stay stay. So the element a keyboard user is on (Cancel, up to 5 updates a second) keeps
  // focus, and a screen reader keeps its place. Children pair up in order while tag and id match.
  function sameKind(a, b) {
    return a.nodeType === b.nodeType && a.nodeName === b.nodeName && (a.nodeType !== 1 || a.id === b.id);
  }

  var HTMX_MARKS = ["disabled", "data-disabled-by-htmx"];

  function patchAttributes(current, next) {
    // While htmx's request runs (a pressed Cancel) the element keeps the marks htmx gave it: `disabled`, the
    // `data-disabled-by-htmx` that lets htmx lift it when the answer comes, and the htmx-request class.
    var busy = current.classList && current.classList.contains("htmx-request");
    Array.prototype.slice.call(current.attributes).forEach(function (attr) {
      if (!next.hasAttribute(attr.name) && !(busy && HTMX_MARKS.indexOf(attr.name) >= 0)) current.removeAttribute(attr.name);
    });
    Array.prototype.slice.call(next.attributes).forEach(function (attr) {
      var value = busy && attr.name === "class" ? attr.value + " htmx-request" : attr.value;
      if (current.getAttribute(attr.name) !== value) current.setAttribute(attr.name, value);
    });
  }

  function patch(current, next) {
    if (next.hasAttribute("data-live-keep")) return;
    patchAttributes(current, next);
    var node = current.firstChild;
    Array.prototype.slice.call(next.childNodes).forEach(function (child) {
      if (node && sameKind(node, child)) {
        if (child.nodeType === 1) patch(node, child);
        else if (node.nodeValue !== child.nodeValue) node.nodeValue = child.nodeValue;
        node = node.nextSibling;
      } else {
        current.insertBefore(child, node);
      }
    });
    while (node) {
      var after = node.nextSibling;
      node.remove();
      node = after;
    }
  }

  // The element now on the page for `el` (patched in place, or added to its list), or null.
  function insert(el) {
    var existing = document.getElementById(el.id);
    if (existing) {
      patch(existing, el);
      return existing;
    }
    var appendTo = el.getAttribute("data-live-append");
    var prependTo = el.getAttribute("data-live-prepend");
    var list = document.getElementById(appendTo || prependTo || "");
    if (!list) return null;
    list.querySelectorAll("[data-live-empty]").forEach(function (n) { n.remove(); });
    if (appendTo) {
      var last = list.lastElementChild;
      var key = el.getAttribute("data-key");
      if (key && last && last.getAttribute("data-key") === key) return null;
      list.appendChild(el);
      if (!list.hasAttribute("data-live-unbounded")) {
        while (list.children.length > MAX_LIST_ITEMS) list.firstElementChild.remove();
      }
      list.scrollTop = list.scrollHeight;
    } else {
      list.insertBefore(el, list.firstElementChild);
    }
    return el;
  }

  // The page's one polite live region. A message is set after the region is emptied, in a later task,
  // so a screen reader hears it even when it repeats the last one.
  var spoken = {};
  var announceTimer = null;
  var pending = [];

  function announce(text) {
    var region = document.getElementById("live-announcer");
    if (!region || !text) return;
    pending.push(text);
    if (announceTimer) return;
    region.textContent = "";
    announceTimer = setTimeout(function () {
      region.textContent = pending.join(" ");
      pending = [];
      announceTimer = null;
    }, 150);
  }

  // Each [data-announce] speaks when its value differs from the one last seen under its id; the values
  // of the first render are only remembered (a page load is not news).
  function collectAnnouncements(root, speak) {
    var found = root.matches && root.matches("[data-announce][id]") ? [root] : [];
    found = found.concat(Array.prototype.slice.call(root.querySelectorAll("[data-announce][id]")));
    found.forEach(function (el) {
      var text = el.getAttribute("data-announce");
      if (spoken[el.id] === text) return;
      spoken[el.id] = text;
      if (speak) announce(text);
    });
  }

  function apply(html) {
    var elements = [];
    Array.prototype.slice.call(parseFragment(html).children).forEach(function (el) {
      // A <template> wraps table rows/cells, which the HTML parser drops anywhere else.
      if (el.tagName === "TEMPLATE") elements.push.apply(elements, Array.prototype.slice.call(el.content.children));
      else elements.push(el);
    });
    elements.forEach(function (el) {
      if (!el.id) return;
      var placed = insert(el);
      if (!placed) return;
      var title = placed.getAttribute("data-title");
      if (title) document.title = title;
      enhance(placed);
      if (window.htmx) window.htmx.process(placed);
      collectAnnouncements(placed, true);
      notifyIfEnded(placed);
    });
    tick();
  }

  // Times: ISO strings from the server, shown in the reader's time zone.
  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function formatDuration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    if (h) return h + "h " + pad(m) + "m";
    if (m) return m + "m " + pad(s) + "s";
    return s + "s";
  }

  function localizeTimes(root) {
    root.querySelectorAll("time[data-local-time]").forEach(function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date)) return;
      el.textContent = el.getAttribute("data-local-time") === "datetime"
        ? date.toLocaleString([], { dateStyle: "medium", timeStyle: "short" })
        : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
      el.title = date.toString();
    });
  }

  // The countdown wording is the server's (job_tags.TIME_WORDING, in <body data-time-wording>).
  var wording = null;
  function countdown(kind, value, now) {
    if (wording === null) wording = JSON.parse(document.body.getAttribute("data-time-wording") || "{}");
    var words = wording[kind], moment = Date.parse(value);
    if (!words) return "";
    if (!value || isNaN(moment)) return words.none;
    var minutes = (moment - now) / 60000;
    return minutes < 1 ? words.soon : words.later.replace("{n}", String(Math.round(minutes)));
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-elapsed-since]").forEach(function (el) {
      if (el.hasAttribute("data-elapsed-final")) return;
      var since = Date.parse(el.getAttribute("data-elapsed-since"));
      if (!isNaN(since)) el.textContent = formatDuration((now - since) / 1000);
    });
    document.querySelectorAll("[data-eta-left]").forEach(function (el) {
      if (isNaN(Date.parse(el.getAttribute("data-eta-left")))) return;
      el.textContent = countdown("left", el.getAttribute("data-eta-left"), now);
    });
    document.querySelectorAll("[data-starts-in]").forEach(function (el) {
      var text = countdown("starts", el.getAttribute("data-starts-in"), now);
      if (el.hasAttribute("data-capfirst")) text = text.charAt(0).toUpperCase() + text.slice(1);
      el.textContent = text;
    });
  }

  // The new-article form shows only the inputs of the chosen mode; without JS every input shows.
  function bindModeForms(root) {
    root.querySelectorAll("form[data-mode-form]:not([data-mode-bound])").forEach(function (form) {
      form.setAttribute("data-mode-bound", "");
      function sync() {
        var checked = form.querySelector("input[name=mode]:checked");
        var mode = checked ? checked.value : "";
        form.querySelectorAll("[data-modes]").forEach(function (field) {
          field.hidden = mode !== "" && field.getAttribute("data-modes").split(" ").indexOf(mode) === -1;
        });
      }
      form.addEventListener("change", function (event) {
        if (event.target.name === "mode") sync();
      });
      sync();
    });
  }

  function enhance(root) {
    localizeTimes(root);
    bindModeForms(root);
  }

  // The connection's state is said once when it changes: not the first "Live" of a page load, and not
  // each failed retry (EventSource reports every one).
  var CONNECTION_WORDS = { open: "Live updates resumed.", retry: "Live updates interrupted; reconnecting." };
  var connectionState = null;

  function setIndicator(text, state) {
    document.querySelectorAll("[data-live-indicator]").forEach(function (el) {
      el.hidden = false;
      el.textContent = text;
      el.setAttribute("data-state", state);
    });
    if (state === connectionState) return;
    if (connectionState !== null && CONNECTION_WORDS[state]) announce(CONNECTION_WORDS[state]);
    connectionState = state;
  }

  // Opt-in browser notifications: a button ([data-notify-for]) asks for permission on its click, never on
  // load; once on, the watched element ending (its data-status) raises one notification.
  var ENDED = ["completed", "failed", "cancelled"];
  var notifyArmed = false;
  var notified = false;

  function notifyButtons() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-notify-for]"));
  }

  // A toggle keeps its name and says its state with aria-pressed (a changing name would be read as a
  // different button); the live region confirms the change.
  function setNotifyButton(button, on) {
    button.setAttribute("aria-pressed", on ? "true" : "false");
    announce(on ? "You will be notified when it ends." : "No notification.");
  }

  function bindNotify() {
    if (!("Notification" in window)) return;
    notifyButtons().forEach(function (button) {
      var watched = document.getElementById(button.getAttribute("data-notify-for"));
      if (!watched || ENDED.indexOf(watched.getAttribute("data-status")) !== -1) return;
      if (Notification.permission === "denied") return;
      button.hidden = false;
      button.addEventListener("click", function () {
        if (notifyArmed) {
          notifyArmed = false;
          setNotifyButton(button, false);
          return;
        }
        var asked = Notification.permission === "granted" ? Promise.resolve("granted") : Notification.requestPermission();
        Promise.resolve(asked).then(function (answer) {
          if (answer === "granted") {
            notifyArmed = true;
            setNotifyButton(button, true);
          } else {
            button.hidden = true;
            actionMessage("Notifications are blocked for this site in the browser's settings.", true);
          }
        });
      });
    });
  }

  function notifyIfEnded(el) {
    notifyButtons().forEach(function (button) {
      if (button.getAttribute("data-notify-for") !== el.id) return;
      if (ENDED.indexOf(el.getAttribute("data-status")) === -1) return;
      button.hidden = true;
      if (!notifyArmed || notified) return;
      notified = true;
      var heading = document.querySelector("h1");
      try {
        var note = new Notification(heading ? heading.textContent.trim() : document.title, {
          body: el.getAttribute("data-announce") || el.getAttribute("data-status"),
          tag: window.location.pathname,
        });
        note.onclick = function () { window.focus(); note.close(); };
      } catch (err) {
        // Some browsers allow notifications only from a service worker: the page's own region still speaks.
      }
    });
  }

  function connect(host) {
    if (!window.EventSource) return;
    var closeOnComplete = host.hasAttribute("data-live-close-on-complete");
    // Native EventSource reconnects by itself and resends Last-Event-ID: no manual reopen.
    var source = new EventSource(host.getAttribute("data-live-src"));
    source.addEventListener("open", function () { setIndicator("Live", "open"); });
    source.addEventListener("error", function () {
      if (source.readyState !== EventSource.CLOSED) setIndicator("Reconnecting…", "retry");
    });
    source.addEventListener("progress", function (event) { apply(event.data); });
    source.addEventListener("complete", function (event) {
      apply(event.data);
      if (closeOnComplete) {
        source.close();
        setIndicator("Finished", "done");
      }
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  // Cancel / retry: the API answers 202, or 404/409 when the action does not apply (or does not exist yet).
  function actionMessage(text, isError) {
    var box = document.getElementById("action-message");
    if (!box) return;
    box.textContent = text;
    box.classList.toggle("is-error", !!isError);
  }

  // htmx disables a pressed button while its request runs (hx-disabled-elt), and a disabled element drops
  // keyboard focus: it gets it back with the answer, unless the reader has moved on meanwhile.
  // The action is read when the request starts: a live update can turn the pressed Cancel into Retry before
  // the answer comes, and the cancel's 202 must not be taken for a retry's (which reloads the page).
  var pressed = null;
  var actions = new WeakMap();
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    pressed = elt === document.activeElement ? elt : null;
    if (elt && elt.getAttribute) actions.set(elt, elt.getAttribute("data-action"));
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt === pressed && elt.isConnected && (!document.activeElement || document.activeElement === document.body)) {
      elt.focus();
    }
    pressed = null;
    var action = elt ? actions.get(elt) : null;
    if (elt) actions.delete(elt);
    if (!action) return;
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (status >= 200 && status < 300) {
      if (action === "retry" || action === "bulk-retry") {
        actionMessage("Queued again; reloading…", false);
        window.location.reload();
      } else {
        actionMessage("Cancel requested.", false);
      }
    } else if (status === 404) {
      actionMessage("This action is not available right now.", true);
    } else if (status === 409 && action.indexOf("bulk-") === 0) {
      actionMessage(action === "bulk-retry" ? "No article of this batch failed or was cancelled." :
        "Every article of this batch has already ended.", true);
    } else if (status === 409) {
      actionMessage(action === "retry" ? "Only a failed or cancelled article can be retried." :
        "This article can no longer be cancelled.", true);
    } else {
      actionMessage("The request failed (" + (status || "network error") + "). Try again.", true);
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.value !== undefined ? source.value : source.textContent;
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done);
    } else {
      var area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
      done();
    }
  });

  document.addEventListener("htmx:load", function (event) { enhance(event.detail.elt); });

  document.addEventListener("DOMContentLoaded", function () {
    enhance(document);
    collectAnnouncements(document.body, false);
    bindNotify();
    tick();
    setInterval(tick, 1000);
    document.querySelectorAll("[data-live-src]").forEach(connect);
  });
})();

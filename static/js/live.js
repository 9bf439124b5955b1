// Live pages: one native EventSource per page ([data-live-src]); each event's data is HTML whose
// top-level elements replace the page's elements with the same id. Fragment markers:
//   data-title="..."             sets the tab title
//   data-live-append="list-id"   a new element joins the end of that list (skipped if its data-key
//                                repeats the list's last item); data-live-prepend joins the start
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

  function keepExisting(el) {
    var kept = el.matches("[data-live-keep][id]") ? [el] : [];
    kept = kept.concat(Array.prototype.slice.call(el.querySelectorAll("[data-live-keep][id]")));
    kept.forEach(function (node) {
      var current = document.getElementById(node.id);
      if (current && current !== node) node.replaceWith(current.cloneNode(true));
    });
  }

  function insert(el) {
    var existing = document.getElementById(el.id);
    if (existing) {
      keepExisting(el);
      existing.replaceWith(el);
      return true;
    }
    var appendTo = el.getAttribute("data-live-append");
    var prependTo = el.getAttribute("data-live-prepend");
    var list = document.getElementById(appendTo || prependTo || "");
    if (!list) return false;
    list.querySelectorAll("[data-live-empty]").forEach(function (n) { n.remove(); });
    if (appendTo) {
      var last = list.lastElementChild;
      var key = el.getAttribute("data-key");
      if (key && last && last.getAttribute("data-key") === key) return false;
      list.appendChild(el);
      while (list.children.length > MAX_LIST_ITEMS) list.firstElementChild.remove();
      list.scrollTop = list.scrollHeight;
    } else {
      list.insertBefore(el, list.firstElementChild);
    }
    return true;
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
      if (!insert(el)) return;
      var title = el.getAttribute("data-title");
      if (title) document.title = title;
      enhance(el);
      if (window.htmx) window.htmx.process(el);
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

  function setIndicator(text, state) {
    document.querySelectorAll("[data-live-indicator]").forEach(function (el) {
      el.hidden = false;
      el.textContent = text;
      el.setAttribute("data-state", state);
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

  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    var action = elt && elt.getAttribute && elt.getAttribute("data-action");
    if (!action) return;
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (status >= 200 && status < 300) {
      if (action === "retry") {
        actionMessage("Queued again; reloading…", false);
        window.location.reload();
      } else {
        actionMessage("Cancel requested.", false);
      }
    } else if (status === 404) {
      actionMessage("This action is not available right now.", true);
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
    tick();
    setInterval(tick, 1000);
    document.querySelectorAll("[data-live-src]").forEach(connect);
  });
})();

/* ArcticNews related-box editor: sends the page's ordinary forms with fetch() and swaps in
   the re-rendered box, so an editor never waits for a page load. Without this script every
   form still works as a normal POST (or GET for search) that comes back to the page.
   No inline scripts, no libraries: the Content-Security-Policy allows only 'self'. */
(function () {
  "use strict";

  var root = document.getElementById("curation");
  if (!root || !window.fetch || !window.FormData) {
    return;
  }
  var box = document.getElementById("curation-box");
  var status = document.getElementById("cur-status");
  var searchUrl = root.getAttribute("data-search-url");
  var busy = false;
  var updates = 0;
  var searches = {}; // country id -> AbortController of the search in flight
  var timers = {}; // country id -> debounce timer

  function announce(message, isError) {
    status.classList.toggle("cur-status--error", Boolean(isError));
    // Empty first so that the same message twice is announced twice.
    status.textContent = "";
    window.setTimeout(function () {
      status.textContent = message || "";
    }, 30);
  }

  function csrfToken(form) {
    var field = form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function countryOf(key) {
    var parts = (key || "").split(":");
    return parts.length > 1 ? parts[1] : "";
  }

  /* The open search and link forms (with what was typed) survive a re-render of the box,
     except on the line that just changed. */
  function saveTools() {
    var saved = [];
    box.querySelectorAll("details[data-tool]").forEach(function (details) {
      if (!details.open) {
        return;
      }
      var values = {};
      details.querySelectorAll("input:not([type=hidden])").forEach(function (input) {
        values[input.name] = input.value;
      });
      var results = details.querySelector(".cur-results");
      saved.push({
        tool: details.getAttribute("data-tool"),
        values: values,
        results: results ? results.innerHTML : null,
      });
    });
    return saved;
  }

  function restoreTools(saved, changedCountry) {
    saved.forEach(function (item) {
      if (countryOf(item.tool) === changedCountry) {
        return;
      }
      var details = box.querySelector('details[data-tool="' + item.tool + '"]');
      if (!details) {
        return;
      }
      details.open = true;
      Object.keys(item.values).forEach(function (name) {
        var input = details.querySelector('input[name="' + name + '"]:not([type=hidden])');
        if (input) {
          input.value = item.values[name];
        }
      });
      var results = details.querySelector(".cur-results");
      if (results && item.results !== null) {
        results.innerHTML = item.results;
      }
    });
  }

  function focusKey(key) {
    var target = key ? box.querySelector('[data-focus="' + key + '"]') : null;
    if (target && target.disabled) {
      // A line moved to the top or the bottom: stay on its other move button.
      var slot = target.closest(".cur-slot");
      target = (slot && slot.querySelector("[data-move]:not([disabled])")) || slot;
    }
    if (!target && countryOf(key)) {
      target = box.querySelector('.cur-slot[data-country="' + countryOf(key) + '"]');
    }
    if (target) {
      target.focus();
      var slotOf = target.closest(".cur-slot");
      if (slotOf) {
        slotOf.classList.add("cur-slot--changed");
        window.setTimeout(function () {
          slotOf.classList.remove("cur-slot--changed");
        }, 1600);
      }
    }
  }

  function showFormError(form, message, field) {
    var error = form.querySelector(".cur-error");
    if (!error) {
      error = document.createElement("p");
      error.className = "cur-error";
      error.id = "cur-error-" + form.querySelector("input[name=country]").value;
      form.insertBefore(error, form.querySelector(".cur-hint") || form.firstChild);
    }
    error.textContent = message;
    form.querySelectorAll("[aria-invalid]").forEach(function (input) {
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    });
    var target =
      (field && form.querySelector('input[name="' + field + '"]')) ||
      form.querySelector("input:not([type=hidden])");
    if (target) {
      target.setAttribute("aria-invalid", "true");
      target.setAttribute("aria-describedby", error.id);
      target.focus();
      target.select();
    }
  }

  function readJson(response) {
    var type = response.headers.get("Content-Type") || "";
    if (type.indexOf("application/json") === -1) {
      // Signed out (the login page came back) or a server error page.
      throw new Error(
        response.status === 403
          ? "You are not allowed to change this box."
          : "Your session may have ended: reload the page and sign in again."
      );
    }
    return response.json();
  }

  function send(form, submitter) {
    if (busy) {
      announce("Still saving the last change…");
      return;
    }
    var body;
    try {
      body = new FormData(form, submitter || undefined);
    } catch (e) {
      body = new FormData(form);
    }
    busy = true;
    root.setAttribute("aria-busy", "true");
    fetch(form.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken(form) },
    })
      .then(readJson)
      .then(function (data) {
        if (!data.ok) {
          if (form.classList.contains("cur-external")) {
            showFormError(form, data.message, data.field);
          }
          announce(data.message, true);
          return;
        }
        var saved = saveTools();
        box.innerHTML = data.html;
        restoreTools(saved, countryOf(data.focus));
        updates += 1;
        root.setAttribute("data-updates", String(updates));
        focusKey(data.focus);
        announce(data.message);
      })
      .catch(function (error) {
        announce(error.message || "The change could not be saved. Try again.", true);
      })
      .then(function () {
        busy = false;
        root.removeAttribute("aria-busy");
      });
  }

  function search(form) {
    var country = form.querySelector("input[name=country]").value;
    var query = form.querySelector("input[name=q]").value.trim();
    var results = form.parentNode.querySelector(".cur-results");
    if (searches[country]) {
      searches[country].abort();
    }
    if (query.length < 2) {
      results.innerHTML = "";
      return;
    }
    var controller = window.AbortController ? new AbortController() : null;
    searches[country] = controller;
    var url = searchUrl + "?" + new URLSearchParams({ country: country, q: query }).toString();
    results.setAttribute("aria-busy", "true");
    fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      signal: controller ? controller.signal : undefined,
    })
      .then(readJson)
      .then(function (data) {
        results.innerHTML = data.html;
        announce(data.message);
      })
      .catch(function (error) {
        if (error.name !== "AbortError") {
          announce(error.message || "Search failed. Try again.", true);
        }
      })
      .then(function () {
        results.removeAttribute("aria-busy");
      });
  }

  root.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.classList.contains("js-curate")) {
      event.preventDefault();
      send(form, event.submitter);
    } else if (form.classList.contains("js-search")) {
      event.preventDefault();
      var country = form.querySelector("input[name=country]").value;
      window.clearTimeout(timers[country]);
      search(form);
    }
  });

  // Search as you type, a quarter of a second after the last key.
  root.addEventListener("input", function (event) {
    var input = event.target;
    var form = input.form;
    if (!form || !form.classList.contains("js-search") || input.name !== "q") {
      return;
    }
    var country = form.querySelector("input[name=country]").value;
    window.clearTimeout(timers[country]);
    timers[country] = window.setTimeout(function () {
      search(form);
    }, 250);
  });

  function resultButtons(from) {
    var details = from.closest("details");
    return details ? Array.prototype.slice.call(details.querySelectorAll(".cur-results button")) : [];
  }

  root.addEventListener("keydown", function (event) {
    var target = event.target;
    var key = event.key;

    // Alt+Up / Alt+Down: move the line the focus is in.
    if (event.altKey && (key === "ArrowUp" || key === "ArrowDown")) {
      var slot = target.closest && target.closest(".cur-slot");
      var button = slot && slot.querySelector('[data-move="' + (key === "ArrowUp" ? "up" : "down") + '"]');
      if (button && !button.disabled) {
        event.preventDefault();
        send(button.form, button);
      }
      return;
    }

    // Down from a search box goes to its results; Up and Down walk through them.
    if ((key === "ArrowDown" || key === "ArrowUp") && !event.altKey && !event.ctrlKey) {
      if (target.name === "q" && target.form && target.form.classList.contains("js-search")) {
        var first = resultButtons(target)[0];
        if (key === "ArrowDown" && first) {
          event.preventDefault();
          first.focus();
        }
        return;
      }
      if (target.closest && target.closest(".cur-results") && target.tagName === "BUTTON") {
        var buttons = resultButtons(target);
        var index = buttons.indexOf(target) + (key === "ArrowDown" ? 1 : -1);
        event.preventDefault();
        if (index < 0) {
          target.closest("details").querySelector("input[name=q]").focus();
        } else if (index < buttons.length) {
          buttons[index].focus();
        }
      }
      return;
    }

    // Escape closes the search or link form the focus is in.
    if (key === "Escape") {
      var details = target.closest && target.closest("details.cur-tool");
      if (details && details.open) {
        event.preventDefault();
        details.open = false;
        details.querySelector("summary").focus();
      }
    }
  });

  // Opening a search or link form puts the cursor in its first field.
  root.addEventListener(
    "toggle",
    function (event) {
      var details = event.target;
      if (details.open && details.classList && details.classList.contains("cur-tool")) {
        var field = details.querySelector("input:not([type=hidden])");
        if (field && details.contains(document.activeElement)) {
          field.focus();
        }
      }
    },
    true
  );

  root.setAttribute("data-enhanced", "true");
  window.__relatedEditor = {
    ready: true,
    updates: function () {
      return updates;
    },
  };
})();

// Passkeys: the only script Tiaki serves. It runs WebAuthn ceremonies for buttons
// marked data-passkey="register" or data-passkey="authenticate": ask the server for
// options, hand them to the browser's navigator.credentials, send the signed answer
// back, then follow the server's redirect (or show recovery codes it returns once).
// Everything else on the pages works without script.
(function () {
  "use strict";

  function fromB64url(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) {
      b64 += "=";
    }
    var raw = atob(b64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) {
      bytes[i] = raw.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) {
      raw += String.fromCharCode(bytes[i]);
    }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(pk) {
    pk.challenge = fromB64url(pk.challenge);
    pk.user.id = fromB64url(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) {
      c.id = fromB64url(c.id);
    });
    return pk;
  }

  function requestOptions(pk) {
    pk.challenge = fromB64url(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) {
      c.id = fromB64url(c.id);
    });
    return pk;
  }

  function answer(credential) {
    var r = credential.response;
    var out = {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      extensions: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64url(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toB64url(r.attestationObject);
      if (r.getTransports) {
        out.response.transports = r.getTransports();
      }
    } else {
      out.response.authenticatorData = toB64url(r.authenticatorData);
      out.response.signature = toB64url(r.signature);
      out.response.userHandle = r.userHandle ? toB64url(r.userHandle) : null;
    }
    return out;
  }

  function post(url, csrf, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () {
        return {};
      }).then(function (data) {
        if (!response.ok) {
          var error = new Error(data.message || "Something went wrong. Please try again.");
          error.code = data.code;
          throw error;
        }
        return data;
      });
    });
  }

  function say(button, text) {
    var status = document.getElementById(button.dataset.status || "passkey-status");
    if (status) {
      status.textContent = text;
      status.hidden = !text;
    }
  }

  function showCodes(codes, next) {
    var section = document.getElementById("passkey-codes");
    var list = document.getElementById("recovery-codes");
    if (!section || !list) {
      window.location.assign(next);
      return;
    }
    codes.forEach(function (code) {
      var item = document.createElement("li");
      var text = document.createElement("code");
      text.textContent = code;
      item.appendChild(text);
      list.appendChild(item);
    });
    var go = document.getElementById("continue");
    if (go) {
      go.href = next;
    }
    Array.prototype.forEach.call(document.querySelectorAll("[data-passkey-hide]"), function (el) {
      el.hidden = true;
    });
    section.hidden = false;
  }

  function extras(button) {
    var body = {};
    var name = button.dataset.nameInput && document.getElementById(button.dataset.nameInput);
    if (name) {
      body.name = name.value;
    }
    var trust = button.dataset.trustInput && document.getElementById(button.dataset.trustInput);
    if (trust) {
      body.trust_device = trust.checked;
    }
    var next = button.dataset.next;
    if (next) {
      body.next = next;
    }
    return body;
  }

  function run(button) {
    var register = button.dataset.passkey === "register";
    var csrf = button.dataset.csrf;
    button.disabled = true;
    say(button, register ? "Follow your browser's steps to create the passkey…" : "Follow your browser's steps to use your passkey…");
    post(button.dataset.options, csrf, {})
      .then(function (start) {
        var pk = start.options.publicKey;
        return (register
          ? navigator.credentials.create({ publicKey: creationOptions(pk) })
          : navigator.credentials.get({ publicKey: requestOptions(pk) })
        ).then(function (credential) {
          var body = extras(button);
          body.ceremony = start.ceremony;
          body.credential = answer(credential);
          return post(button.dataset.finish, csrf, body);
        });
      })
      .then(function (done) {
        if (done.recovery_codes && done.recovery_codes.length) {
          showCodes(done.recovery_codes, done.redirect);
        } else {
          window.location.assign(done.redirect);
        }
      })
      .catch(function (error) {
        button.disabled = false;
        if (error && error.code === "step_up_required") {
          window.location.assign("/account/step-up?next=" + encodeURIComponent(window.location.pathname));
          return;
        }
        var message = error && error.name === "NotAllowedError"
          ? "The passkey step was cancelled or timed out. Please try again."
          : (error && error.message) || "That didn't work. Please try again.";
        say(button, message);
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var buttons = document.querySelectorAll("[data-passkey]");
    var supported = !!(window.PublicKeyCredential && navigator.credentials);
    Array.prototype.forEach.call(buttons, function (button) {
      if (!supported) {
        button.disabled = true;
        say(button, "This browser can't use passkeys.");
        return;
      }
      button.hidden = false;
      button.addEventListener("click", function (event) {
        event.preventDefault();
        run(button);
      });
    });
  });
})();

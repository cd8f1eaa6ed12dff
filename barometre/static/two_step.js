/* Passkeys (WebAuthn) for the second step: signing in, and adding one on the setup page.
   Without JavaScript, or in a browser without WebAuthn, these parts stay hidden and the
   code form works alone. No inline script: the CSP forbids them. */
(function () {
  "use strict";

  if (!window.PublicKeyCredential || !navigator.credentials) { return; }

  function toBytes(value) {
    var base64 = value.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var text = atob(base64);
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i += 1) { bytes[i] = text.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var text = "";
    for (var i = 0; i < bytes.length; i += 1) { text += String.fromCharCode(bytes[i]); }
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      return { type: item.type, id: toBytes(item.id), transports: item.transports };
    });
  }

  function creationOptions(options) {
    options.challenge = toBytes(options.challenge);
    options.user.id = toBytes(options.user.id);
    options.excludeCredentials = descriptors(options.excludeCredentials);
    return options;
  }

  function requestOptions(options) {
    options.challenge = toBytes(options.challenge);
    options.allowCredentials = descriptors(options.allowCredentials);
    return options;
  }

  function asJson(credential) {
    var response = credential.response;
    var answer = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toText(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      answer.response.attestationObject = toText(response.attestationObject);
      if (response.getTransports) { answer.response.transports = response.getTransports(); }
    } else {
      answer.response.authenticatorData = toText(response.authenticatorData);
      answer.response.signature = toText(response.signature);
      if (response.userHandle) { answer.response.userHandle = toText(response.userHandle); }
    }
    return answer;
  }

  function post(url, csrf, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) { throw new Error(data.error || String(response.status)); }
        return data;
      });
    });
  }

  function setUp(box, ceremony, extra) {
    var button = box.querySelector("[data-passkey-start]");
    var error = box.querySelector("[data-passkey-error]");
    var csrf = box.getAttribute("data-csrf");
    button.addEventListener("click", function () {
      error.hidden = true;
      button.disabled = true;
      post(box.getAttribute("data-options-url"), csrf)
        .then(ceremony)
        .then(function (credential) {
          var body = extra ? extra(asJson(credential)) : asJson(credential);
          return post(box.getAttribute("data-verify-url"), csrf, body);
        })
        .then(function (data) { window.location.assign(data.redirect); })
        .catch(function (failure) {
          button.disabled = false;
          error.textContent = failure && failure.name === "NotAllowedError"
            ? box.getAttribute("data-cancelled") || failure.message
            : failure.message;
          error.hidden = false;
        });
    });
  }

  var signIn = document.querySelector("[data-passkey-sign-in]");
  if (signIn) {
    signIn.hidden = false;
    setUp(signIn, function (options) {
      return navigator.credentials.get({ publicKey: requestOptions(options) });
    });
  }

  var register = document.querySelector("[data-passkey-register]");
  if (register) {
    var form = register.querySelector("[data-passkey-form]");
    form.hidden = false;
    setUp(form.parentNode, function (options) {
      return navigator.credentials.create({ publicKey: creationOptions(options) });
    }, function (credential) {
      return { credential: credential, name: document.getElementById("passkey-name").value };
    });
  }
}());

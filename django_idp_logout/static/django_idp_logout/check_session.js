/*
 * OpenID Connect Session Management 1.0, section 3.3: the OP's check_session_iframe.
 *
 * An RP frames this page and posts "client_id session_state". The answer, posted back to the sender's
 * origin only, is "unchanged" when sha256(client_id + " " + origin + " " + browser_state + " " + salt)
 * + "." + salt equals session_state (origin: the sender's, browser_state: the OP's cookie, salt: the part
 * after the last "."), "changed" when it does not, and "error" for a message that is not of that form.
 * Messages from origins that are not a registered client's are ignored: no answer at all.
 * The page only reads the cookie; it sends nothing anywhere else.
 */
(function () {
  "use strict";
  var config = document.currentScript;
  var cookieName = config.getAttribute("data-cookie-name");
  var origins = (config.getAttribute("data-origins") || "").split(" ").filter(Boolean);
  var MAX_MESSAGE = 4096;

  function browserState() {
    var cookies = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < cookies.length; i++) {
      var eq = cookies[i].indexOf("=");
      if (eq > 0 && cookies[i].slice(0, eq) === cookieName) {
        return cookies[i].slice(eq + 1);
      }
    }
    return "";
  }

  function hex(buffer) {
    var bytes = new Uint8Array(buffer);
    var out = "";
    for (var i = 0; i < bytes.length; i++) {
      out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    }
    return out;
  }

  function parse(data) {
    if (typeof data !== "string" || data.length > MAX_MESSAGE) {
      return null;
    }
    var space = data.lastIndexOf(" ");
    var clientId = data.slice(0, space);
    var sessionState = data.slice(space + 1);
    var dot = sessionState.lastIndexOf(".");
    if (space <= 0 || dot <= 0 || dot === sessionState.length - 1) {
      return null;
    }
    return { clientId: clientId, sessionState: sessionState, salt: sessionState.slice(dot + 1) };
  }

  window.addEventListener("message", function (event) {
    if (origins.indexOf(event.origin) === -1 || !event.source) {
      return;
    }
    function reply(answer) {
      event.source.postMessage(answer, event.origin);
    }
    var message = parse(event.data);
    if (message === null || !window.crypto || !window.crypto.subtle || !window.TextEncoder) {
      reply("error");
      return;
    }
    var input = message.clientId + " " + event.origin + " " + browserState() + " " + message.salt;
    window.crypto.subtle.digest("SHA-256", new TextEncoder().encode(input)).then(
      function (digest) {
        reply(hex(digest) + "." + message.salt === message.sessionState ? "unchanged" : "changed");
      },
      function () {
        reply("error");
      }
    );
  });
})();

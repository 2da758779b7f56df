/*
 * The relying party's side of OpenID Connect Session Management 1.0 (section 3.2), in a few lines:
 * frame the identity provider's check_session_iframe, post "client_id session_state" every 2 seconds,
 * and on "changed" show the notice (a real site would now re-check with prompt=none or sign out).
 */
(function () {
  "use strict";
  var config = document.currentScript;
  var iframeUrl = config.getAttribute("data-iframe");
  var message = config.getAttribute("data-client-id") + " " + config.getAttribute("data-session-state");
  var opOrigin = new URL(iframeUrl).origin;
  var notice = document.getElementById("session-changed");
  var frame = document.createElement("iframe");
  var timer = null;

  function check() {
    frame.contentWindow.postMessage(message, opOrigin);
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== opOrigin || event.source !== frame.contentWindow) {
      return;
    }
    document.documentElement.setAttribute("data-session-check", event.data);
    if (event.data === "changed" || event.data === "error") {
      clearInterval(timer);
    }
    if (event.data === "changed") {
      notice.hidden = false;
    }
  });
  frame.addEventListener("load", function () {
    check();
    timer = setInterval(check, 2000);
  });
  frame.hidden = true;
  frame.title = "check_session_iframe";
  frame.src = iframeUrl;
  document.body.appendChild(frame);
})();

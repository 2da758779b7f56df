/* The logged-out page of django-idp-logout: follows each client's front-channel iframe (loaded, or
 * timed out after FRONTCHANNEL_TIMEOUT), polls the logout's status view for the back-channel state,
 * then shows the finished state ("You are signed out of Shop and Wiki") or goes back to the client.
 *
 * A static file, loaded with a plain <script src> in the <head>: a Content-Security-Policy without
 * 'unsafe-inline' does not block it, and it listens (in the capture phase, since load does not bubble)
 * before the iframes below it start loading, so no load event is missed. It reads its settings from the
 * JSON block "idp-logout-page" and only toggles attributes: it never writes HTML, so no client name
 * from the status view can become markup.
 */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("idp-logout-page").textContent);
  var started = Date.now();
  var loaded = [];
  var frontchannelOver = false;
  var backchannelOver = !config.statusUrl;
  var redirected = false;
  var finished = false;

  function setState(channel, state) {
    channel.setAttribute("data-state", state);
    var labels = channel.querySelectorAll("[data-when]");
    for (var i = 0; i < labels.length; i += 1) {
      labels[i].hidden = labels[i].getAttribute("data-when") !== state;
    }
  }

  function channelOf(clientId, name) {
    var items = document.querySelectorAll(".logout-client");
    for (var i = 0; i < items.length; i += 1) {
      if (items[i].getAttribute("data-client-id") === clientId) {
        return items[i].querySelector('[data-channel="' + name + '"]');
      }
    }
    return null;
  }

  function frames() {
    return document.querySelectorAll("iframe.frontchannel-logout");
  }

  function allFramesLoaded() {
    var list = frames();
    for (var i = 0; i < list.length; i += 1) {
      if (loaded.indexOf(list[i]) < 0) { return false; }
    }
    return true;
  }

  function goBack() {
    if (!redirected && config.redirect) {
      redirected = true;
      window.location.replace(config.redirect);
    }
  }

  function finish() {
    if (finished) { return; }
    finished = true;
    var progress = document.getElementById("logout-progress");
    var working = document.getElementById("frontchannel-status");
    var done = document.getElementById("logout-finished");
    if (working) { working.hidden = true; }
    if (done) { done.hidden = false; }
    if (progress) { progress.setAttribute("data-state", "finished"); }
  }

  function maybeFinish() {
    if (frontchannelOver) { goBack(); }
    if (frontchannelOver && backchannelOver) { finish(); }
  }

  function frameLoaded(frame) {
    // Count each iframe's first load only: a client page that navigates again must not count twice.
    if (loaded.indexOf(frame) >= 0) { return; }
    loaded.push(frame);
    var channel = channelOf(frame.getAttribute("data-client-id"), "frontchannel");
    if (channel && channel.getAttribute("data-state") === "pending") { setState(channel, "loaded"); }
    if (document.readyState !== "loading" && allFramesLoaded()) {
      frontchannelOver = true;
      maybeFinish();
    }
  }

  function frontchannelTimedOut() {
    if (frontchannelOver) { return; }
    frontchannelOver = true;
    var list = frames();
    for (var i = 0; i < list.length; i += 1) {
      if (loaded.indexOf(list[i]) < 0) {
        var channel = channelOf(list[i].getAttribute("data-client-id"), "frontchannel");
        if (channel) { setState(channel, "timeout"); }
      }
    }
    maybeFinish();
  }

  function showBackchannel(clients) {
    var settled = true;
    for (var i = 0; i < clients.length; i += 1) {
      var state = clients[i].backchannel;
      if (!state) { continue; }
      var channel = channelOf(clients[i].client_id, "backchannel");
      if (channel) { setState(channel, state); }
      if (state === "pending") { settled = false; }
    }
    return settled;
  }

  function poll() {
    if (backchannelOver) { return; }
    var request = new XMLHttpRequest();
    request.open("GET", config.statusUrl);
    request.setRequestHeader("Accept", "application/json");
    request.onload = function () {
      var settled = true;
      if (request.status === 200) {
        try {
          settled = showBackchannel(JSON.parse(request.responseText).clients || []);
        } catch (error) {
          settled = true;
        }
      }
      var timeIsUp = Date.now() - started >= config.pollFor * 1000;
      if (settled || timeIsUp) {
        backchannelOver = true;
        maybeFinish();
      } else {
        window.setTimeout(poll, config.pollInterval);
      }
    };
    request.onerror = function () {
      backchannelOver = true;
      maybeFinish();
    };
    request.send();
  }

  document.addEventListener("load", function (event) {
    var target = event.target;
    if (target && target.tagName === "IFRAME" && target.classList.contains("frontchannel-logout")) {
      frameLoaded(target);
    }
  }, true);

  document.addEventListener("DOMContentLoaded", function () {
    if (allFramesLoaded()) { frontchannelOver = true; }
    window.setTimeout(frontchannelTimedOut, config.frontchannelTimeout * 1000);
    poll();
    maybeFinish();
  });
})();

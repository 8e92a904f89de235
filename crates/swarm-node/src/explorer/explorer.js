// Live updates for the swarm explorer.
//
// The pages are complete without this script. With it, the page listens to
// the node's event stream (GET /events, a WebSocket) and, when something
// happens, re-fetches its main content from the URL in <main data-live>,
// at most once a second. The fragment is rendered and HTML-escaped by the
// node, like the page itself; the Content-Security-Policy forbids inline
// scripts, so nothing in it can run.
(function () {
  'use strict';

  var main = document.querySelector('main[data-live]');
  var status = document.getElementById('live-status');
  var MIN_INTERVAL_MS = 1000;
  var lastFetch = 0;
  var timer = null;
  var inFlight = false;
  var again = false;

  function setStatus(text) {
    if (status) {
      status.textContent = text;
      status.className = text;
    }
  }

  function refresh() {
    timer = null;
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    lastFetch = Date.now();
    fetch(main.getAttribute('data-live'), {
      credentials: 'same-origin',
      headers: { Accept: 'text/html' },
      cache: 'no-store'
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error('HTTP ' + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        main.innerHTML = html;
        main.setAttribute('data-updated', String(Date.now()));
      })
      .catch(function () {
        setStatus('stale');
      })
      .then(function () {
        inFlight = false;
        if (again) {
          again = false;
          schedule();
        }
      });
  }

  function schedule() {
    if (timer !== null) {
      return;
    }
    var wait = Math.max(0, MIN_INTERVAL_MS - (Date.now() - lastFetch));
    timer = setTimeout(refresh, wait);
  }

  function connect(delay) {
    var scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    var socket;
    try {
      socket = new WebSocket(scheme + location.host + '/events');
    } catch (e) {
      setStatus('offline');
      return;
    }
    socket.onopen = function () {
      setStatus('live');
      delay = 1000;
      // Whatever happened while the socket was away.
      schedule();
    };
    socket.onmessage = function (message) {
      var event;
      try {
        event = JSON.parse(message.data);
      } catch (e) {
        return;
      }
      if (event && event.event !== 'connected') {
        schedule();
      }
    };
    socket.onclose = function () {
      setStatus('reconnecting');
      setTimeout(function () {
        connect(Math.min(delay * 2, 30000));
      }, delay);
    };
  }

  if (main && window.WebSocket && window.fetch) {
    connect(1000);
  }
})();

// promptctl serve --ui (src/serve/ui.rs): the admin section of a prompt's page. The admin token
// the operator enters stays in this tab's sessionStorage and goes only into the Authorization
// header of the admin JSON endpoints (same origin). Everything shown is set as text, never HTML.
'use strict';
(function () {
  var admin = document.getElementById('admin');
  if (!admin) {
    return;
  }
  var KEY = 'promptctl-admin-token';
  var name = admin.getAttribute('data-prompt');
  var base = '/v1/prompts/' + encodeURIComponent(name);
  var status = document.getElementById('admin-status');
  var result = document.getElementById('rollback-result');
  var table = document.getElementById('history');

  function token() {
    return window.sessionStorage.getItem(KEY) || '';
  }

  function say(element, text, bad) {
    element.textContent = text;
    element.className = bad ? 'error' : 'ok';
  }

  function call(method, path, body) {
    var init = { method: method, cache: 'no-store', headers: {} };
    if (path !== '') {
      init.headers.Authorization = 'Bearer ' + token();
    }
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(base + path, init).then(function (response) {
      return response.json().catch(function () {
        return {};
      }).then(function (json) {
        return { status: response.status, body: json };
      });
    });
  }

  function refused() {
    window.sessionStorage.removeItem(KEY);
    table.hidden = true;
    say(status, 'The admin token was refused; enter it again.', true);
  }

  function history() {
    if (!token()) {
      return;
    }
    call('GET', '/history').then(function (reply) {
      if (reply.status === 401) {
        refused();
        return;
      }
      if (reply.status !== 200) {
        say(status, 'History: ' + (reply.body.message || 'HTTP ' + reply.status), true);
        return;
      }
      var rows = table.tBodies[0];
      while (rows.firstChild) {
        rows.removeChild(rows.firstChild);
      }
      (reply.body.activations || []).forEach(function (activation) {
        var row = rows.insertRow();
        ['at', 'action', 'version', 'previous', 'actor', 'reason'].forEach(function (key) {
          var value = activation[key];
          row.insertCell().textContent = value === null || value === undefined ? '' : String(value);
        });
      });
      table.hidden = false;
      say(status, 'Token entered: the history is shown and rollback is enabled.', false);
    }, function () {
      say(status, 'The server did not answer.', true);
    });
  }

  // After a rollback, the served version changes once the store's notice arrives.
  function follow(version, tries) {
    call('GET', '').then(function (reply) {
      var active = document.getElementById('active-version');
      if (reply.status === 200 && reply.body.version === version) {
        active.textContent = 'v' + version;
        var sha = document.getElementById('active-sha');
        var tier = document.getElementById('active-tier');
        if (sha && typeof reply.body.sha256 === 'string') {
          sha.textContent = reply.body.sha256.slice(0, 12);
        }
        if (tier && typeof reply.body.tier === 'string') {
          tier.textContent = reply.body.tier;
        }
      } else if (tries > 0) {
        window.setTimeout(function () {
          follow(version, tries - 1);
        }, 500);
      }
    });
  }

  document.getElementById('token-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var input = document.getElementById('token');
    var value = input.value.trim();
    input.value = '';
    if (value === '') {
      return;
    }
    window.sessionStorage.setItem(KEY, value);
    history();
  });

  document.getElementById('forget-token').addEventListener('click', function () {
    window.sessionStorage.removeItem(KEY);
    table.hidden = true;
    say(status, 'Token forgotten.', false);
  });

  document.getElementById('rollback-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var reason = document.getElementById('reason').value.trim();
    var to = document.getElementById('rollback-to').value;
    if (!token()) {
      say(result, 'Enter the admin token first.', true);
      return;
    }
    if (reason === '') {
      say(result, 'Say why: the reason is required (it goes into the audit trail).', true);
      return;
    }
    var request = { to: to === '' ? null : parseInt(to, 10), reason: reason };
    call('POST', '/rollback', request).then(function (reply) {
      if (reply.status === 401) {
        refused();
        say(result, 'Not rolled back: the admin token was refused.', true);
        return;
      }
      if (reply.status !== 200) {
        say(result, 'Not rolled back: ' + (reply.body.message || 'HTTP ' + reply.status), true);
        return;
      }
      var done = reply.body;
      say(result, 'Rolled back from v' + done.from + ' to v' + done.to + ' by ' + done.actor +
        ' (cache ' + done.cache + ').', false);
      document.getElementById('reason').value = '';
      history();
      follow(done.to, 60);
    }, function () {
      say(result, 'The server did not answer.', true);
    });
  });

  history();
}());

/* gongshu: resumable upload of big files on an entry's aggregation page (R-AGG-2).
   Progressive enhancement of form#ingest-upload, which still works without JS (plain multipart POST).

   A file of at least data-resumable-threshold bytes (0: every file) goes through the resumable API
   instead: POST /api/v1/ingest/uploads (name, size) → PATCH chunks of data-chunk-size bytes
   (Blob.slice, header Upload-Offset) → POST …/complete with the form's options (mode, encoding,
   dry run) → the load's report page, where the plain POST lands too. Smaller files keep the single
   POST: one request, and a broken connection costs little.

   - progress bar with bytes, per cent, speed and time left; a pause / resume button;
   - a network error (or 502/503/504) is retried with backoff (1, 2, 4 … 30 s): the client first asks
     the server how many bytes it has (GET) and goes on from there, so nothing is sent twice;
   - the upload id is kept in localStorage under the file's name + size + lastModified, so after a
     reload choosing the same file again offers to resume where it stopped;
   - the API's errors (Chinese / English JSON) are shown on the page.
   The calls are authenticated by the session cookie and send the page's CSRF token (X-CSRF-Token). */
(function () {
  "use strict";
  var form = document.getElementById("ingest-upload");
  if (!form || !window.XMLHttpRequest || !window.JSON || !window.Promise || !window.Blob || !Blob.prototype.slice) {
    return;
  }
  var english = document.documentElement.lang === "en";
  var csrfInput = form.querySelector("input[name=csrf_token]");
  var input = form.querySelector("input[type=file]");
  var entryId = form.getAttribute("data-entry-id");
  var api = form.getAttribute("data-uploads-url");
  var reportUrl = form.getAttribute("data-load-url");
  var PREFIX = "gongshu.upload:" + entryId + ":";
  var MAX_ATTEMPTS = 12;

  function t(zh, en) { return english ? en : zh; }
  function num(attr, fallback) {
    var v = parseInt(form.getAttribute(attr), 10);
    return isNaN(v) || v < 0 ? fallback : v;
  }
  function mb(n) {
    if (n < 1024 * 1024) { return (n / 1024).toFixed(1) + " KB"; }
    if (n < 1024 * 1024 * 1024) { return (n / 1024 / 1024).toFixed(1) + " MB"; }
    return (n / 1024 / 1024 / 1024).toFixed(2) + " GB";
  }
  function seconds(s) {
    s = Math.round(s);
    if (s < 60) { return s + t(" 秒", " s"); }
    if (s < 3600) { return Math.floor(s / 60) + t(" 分 ", " min ") + (s % 60) + t(" 秒", " s"); }
    return Math.floor(s / 3600) + t(" 小时 ", " h ") + Math.floor((s % 3600) / 60) + t(" 分", " min");
  }
  function make(tag, attrs, text) {
    var n = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { n.setAttribute(k, attrs[k]); });
    if (text) { n.textContent = text; }
    return n;
  }

  /* -- remembered uploads (localStorage; the page works without it) ------------------------------- */
  function keyOf(file) { return PREFIX + file.size + ":" + file.lastModified + ":" + file.name; }
  function recall(key) {
    try { return JSON.parse(window.localStorage.getItem(key) || "null"); } catch (e) { return null; }
  }
  function remember(key, value) {
    try { window.localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* private mode: no resume */ }
  }
  function forget(key) {
    try { window.localStorage.removeItem(key); } catch (e) { /* nothing kept */ }
  }
  function unfinished() {
    var out = [];
    try {
      for (var i = 0; i < window.localStorage.length; i++) {
        var k = window.localStorage.key(i);
        if (k && k.indexOf(PREFIX) === 0) { var v = recall(k); if (v) { v.key = k; out.push(v); } }
      }
    } catch (e) { /* no storage */ }
    return out;
  }

  /* -- HTTP ---------------------------------------------------------------------------------------- */
  var current = null;  // the XMLHttpRequest in flight, so that pause can abort it
  function request(method, url, body, headers, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      current = xhr;
      xhr.open(method, url);
      xhr.setRequestHeader("X-CSRF-Token", csrfInput.value);
      xhr.setRequestHeader("Accept", "application/json");
      Object.keys(headers || {}).forEach(function (k) { xhr.setRequestHeader(k, headers[k]); });
      if (onProgress && xhr.upload) {
        xhr.upload.onprogress = function (e) { onProgress(e.loaded); };
      }
      xhr.onload = function () {
        current = null;
        var data = null;
        try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
        resolve({status: xhr.status, body: data});
      };
      xhr.onerror = function () { current = null; reject({network: true}); };
      xhr.ontimeout = xhr.onerror;
      xhr.onabort = function () { current = null; reject({aborted: true}); };
      xhr.send(body === undefined ? null : body);
    });
  }
  function json(method, url, data) {
    return request(method, url, data === undefined ? undefined : JSON.stringify(data),
      data === undefined ? {} : {"Content-Type": "application/json"});
  }
  var RETRYABLE = {0: true, 502: true, 503: true, 504: true};
  function serverMessage(res) {
    var e = res.body && res.body.error;
    if (!e) {
      return t("服务器返回了错误（HTTP " + res.status + "）", "The server answered with an error (HTTP " + res.status + ")");
    }
    var text = english ? (e.message_en || e.message) : (e.message || e.message_en);
    if (e.request_id && res.status >= 500) { text += t("（请求编号 ", " (request id ") + e.request_id + t("）", ")"); }
    return text;
  }
  function receivedIn(res) {
    var d = res.body && res.body.error && res.body.error.details;
    return d && d[0] && typeof d[0].received === "number" ? d[0].received : null;
  }

  /* -- the widget ---------------------------------------------------------------------------------- */
  var offer = make("div", {"class": "notice", id: "ingest-upload-resume", hidden: ""});
  var box = make("div", {"class": "notice", id: "ingest-upload-progress", hidden: "", style: "margin-top:12px"});
  var title = make("p", {id: "ingest-upload-file"});
  var bar = make("progress", {id: "ingest-upload-bar", max: "1", value: "0", style: "width:100%;height:1.1em"});
  var stats = make("p", {id: "ingest-upload-stats", "class": "small", "aria-live": "polite"});
  var state = make("p", {id: "ingest-upload-state", "class": "muted small", role: "status"});
  var error = make("p", {id: "ingest-upload-error", "class": "error", role: "alert", hidden: ""});
  var pauseBtn = make("button", {type: "button", id: "ingest-upload-pause"}, t("暂停", "Pause"));
  [title, bar, stats, state, error, pauseBtn].forEach(function (n) { box.appendChild(n); });
  form.parentNode.insertBefore(offer, form);
  form.parentNode.insertBefore(box, form.nextSibling);

  function say(text) { state.textContent = text; }
  function showError(text) {
    error.textContent = text;
    error.hidden = !text;
  }
  function lock(on) {
    Array.prototype.forEach.call(form.elements, function (n) {
      if (n.type !== "hidden") { n.disabled = on; }
    });
  }

  /* The upload in progress: file, server id, bytes the server has, options of the complete call. */
  var up = null;

  function render(inflight) {
    if (!up) { return; }
    var done = Math.min(up.size, up.received + (inflight || 0));
    var now = Date.now();
    up.samples.push([now, done]);
    while (up.samples.length > 2 && now - up.samples[0][0] > 5000) { up.samples.shift(); }
    var first = up.samples[0];
    var speed = now > first[0] ? (done - first[1]) / ((now - first[0]) / 1000) : 0;
    bar.max = up.size;
    bar.value = done;
    var pct = up.size ? Math.floor(done * 100 / up.size) : 100;
    var text = mb(done) + " / " + mb(up.size) + " · " + pct + "%";
    if (speed > 0 && !up.paused) {
      text += " · " + mb(speed) + "/s";
      if (done < up.size) { text += t(" · 约剩 ", " · about ") + seconds((up.size - done) / speed) + t("", " left"); }
    }
    if (up.reconnects) {
      text += t(" · 断线续传 " + up.reconnects + " 次", " · resumed " + up.reconnects + "× after a broken connection");
    }
    stats.textContent = text;
  }

  function save() {
    remember(up.key, {id: up.id, name: up.file.name, size: up.size, received: up.received, saved: Date.now()});
  }

  function goToReport(loadId) {
    forget(up.key);
    up.done = true;
    say(t("已提交归集，正在打开归集报告…", "Load queued; opening its report…"));
    window.location.assign(reportUrl + loadId);
  }

  /* Stop with the server's (or the network's) message. ``resumable``: offer the Resume button;
     ``drop``: the server no longer has this upload, so a new submit starts afresh. */
  function fail(text, resumable, drop) {
    clearTimeout(up.timer);
    up.paused = true;
    up.running = false;
    showError(text);
    say(t("上传已停止。", "The upload stopped.") + (resumable ? t("可点“继续”从断点续传。", " Press Resume to go on from where it stopped.") : ""));
    pauseBtn.textContent = t("继续", "Resume");
    pauseBtn.hidden = !resumable;
    if (drop) { forget(up.key); }
    lock(false);
    render(0);
  }

  /* Ask the server how many bytes it has; an upload already completed opens its report. */
  function sync() {
    return json("GET", api + "/" + up.id).then(function (res) {
      if (res.status === 200 && res.body) {
        if (res.body.status === "complete" && res.body.load_id) { goToReport(res.body.load_id); return false; }
        up.received = res.body.received;
        save();
        render(0);
        return true;
      }
      if (RETRYABLE[res.status]) { throw {network: true}; }
      fail(serverMessage(res), false, true);  // expired, or not this user's: start afresh next time
      return false;
    });
  }

  function retry(err) {
    if (!up || up.done || up.paused || (err && err.aborted)) { return; }
    if (err && !err.network) {  // a bug, not the network: say so instead of retrying for ever
      fail(String(err && err.message || err), true);
      return;
    }
    up.attempt += 1;
    if (up.attempt === 1) { up.reconnects += 1; }
    if (up.attempt > MAX_ATTEMPTS) {
      fail(t("网络连接中断，多次重试仍未恢复。", "The network connection broke and did not come back after several tries."), true);
      return;
    }
    var wait = Math.min(30, Math.pow(2, up.attempt - 1));
    say(t("连接中断，" + wait + " 秒后询问服务器已收到多少并续传（第 " + up.attempt + " 次重试）…",
      "Connection lost; asking the server where to resume in " + wait + " s (retry " + up.attempt + ")…"));
    up.timer = setTimeout(resume, wait * 1000);
  }

  function resume() {
    if (!up || up.done) { return; }
    up.paused = false;
    up.running = true;
    sync().then(function (go) { if (go) { next(); } }, retry);
  }

  function next() {
    if (!up || up.paused || up.done) { return; }
    if (up.received >= up.size) { finish(); return; }
    var chunk = Math.max(1, num("data-chunk-size", 8 * 1024 * 1024));
    var from = up.received;
    var blob = up.file.slice(from, Math.min(up.size, from + chunk));
    say(t("正在上传…", "Uploading…"));
    request("PATCH", api + "/" + up.id, blob, {"Upload-Offset": String(from),
      "Content-Type": "application/offset+octet-stream"}, render).then(function (res) {
      if (res.status === 200 && res.body) {
        up.received = res.body.received;
        up.attempt = 0;
        save();
        render(0);
        next();
      } else if (res.status === 409 && receivedIn(res) !== null) {  // the server has another offset: go on from it
        up.received = receivedIn(res);
        save();
        next();
      } else if (res.status === 409) {  // complete already: sync opens its report
        resume();
      } else if (RETRYABLE[res.status]) {
        retry({network: true});
      } else if (res.status === 404) {
        fail(serverMessage(res), false, true);
      } else {  // e.g. logged out (401), or more bytes than declared (422)
        fail(serverMessage(res), res.status === 401 || res.status >= 500);
      }
    }, retry);
  }

  function finish() {
    say(t("文件已全部上传，正在提交归集…", "File uploaded; queuing the load…"));
    pauseBtn.hidden = true;
    json("POST", api + "/" + up.id + "/complete", up.options).then(function (res) {
      if (res.status === 202 && res.body) { goToReport(res.body.id); return; }
      if (res.status === 409 && receivedIn(res) !== null) {
        up.received = receivedIn(res);
        pauseBtn.hidden = false;
        save();
        next();
        return;
      }
      if (res.status === 409) { resume(); return; }  // completed before the answer was lost: sync opens it
      if (RETRYABLE[res.status]) { pauseBtn.hidden = false; retry({network: true}); return; }
      // e.g. a wrong encoding or SM3: the bytes stay on the server and the upload stays remembered, so the
      // officer can change the options and submit again without sending the file again
      fail(serverMessage(res), false);
    }, function (err) { pauseBtn.hidden = false; retry(err); });
  }

  pauseBtn.addEventListener("click", function () {
    if (!up || up.done) { return; }
    if (!up.paused) {
      up.paused = true;
      up.running = false;
      clearTimeout(up.timer);
      if (current) { current.abort(); }
      pauseBtn.textContent = t("继续", "Resume");
      say(t("已暂停。服务器已收到 ", "Paused. The server has ") + mb(up.received) +
        t("；关闭页面后重新选择同一文件也可续传。", "; you can also come back later and choose the same file again."));
      render(0);
    } else {
      showError("");
      lock(true);
      pauseBtn.hidden = false;
      pauseBtn.textContent = t("暂停", "Pause");
      up.attempt = 0;
      up.samples = [];
      resume();
    }
  });
  window.addEventListener("online", function () {
    if (up && up.running && !current && up.attempt) { clearTimeout(up.timer); resume(); }
  });
  window.addEventListener("beforeunload", function (ev) {
    if (up && up.running && !up.done) { ev.preventDefault(); ev.returnValue = ""; }
  });

  /* -- the form ------------------------------------------------------------------------------------ */
  var submitter = null;
  Array.prototype.forEach.call(form.querySelectorAll("button"), function (b) {
    b.addEventListener("click", function () { submitter = b; });
  });

  form.addEventListener("submit", function (ev) {
    var file = input.files && input.files[0];
    if (!file || file.size < num("data-resumable-threshold", 8 * 1024 * 1024)) { return; }  // plain POST
    ev.preventDefault();
    if (up && up.running) { return; }
    var by = ev.submitter || submitter;
    var encoding = form.elements.encoding ? form.elements.encoding.value : "";
    var options = {mode: form.elements.mode ? form.elements.mode.value : "full", encoding: encoding || null,
      dry_run: !!(by && by.name === "dry_run")};
    upload(file, options);
  });

  function upload(file, options) {
    var key = keyOf(file);
    var known = recall(key);
    up = {file: file, key: key, id: known ? known.id : null, size: file.size, received: 0, options: options,
      attempt: 0, reconnects: 0, samples: [], paused: false, running: true, done: false, timer: null};
    offer.hidden = true;
    box.hidden = false;
    showError("");
    title.textContent = file.name;
    pauseBtn.hidden = false;
    pauseBtn.textContent = t("暂停", "Pause");
    lock(true);
    render(0);
    if (up.id) {
      say(t("继续上次未完成的上传…", "Resuming the unfinished upload…"));
      json("GET", api + "/" + up.id).then(function (res) {
        if (res.status === 200 && res.body && res.body.status === "open") {
          up.received = res.body.received;
          save();
          render(0);
          next();
        } else if (RETRYABLE[res.status]) {
          retry({network: true});
        } else {  // expired, finished, or another user's: send the file afresh
          forget(key);
          begin();
        }
      }, retry);
      return;
    }
    begin();
  }

  function begin() {
    say(t("正在开始上传…", "Starting the upload…"));
    up.id = null;
    up.received = 0;
    json("POST", api, {entry_id: parseInt(entryId, 10), filename: up.file.name, size: up.size}).then(function (res) {
      if (res.status === 201 && res.body) {
        up.id = res.body.id;
        save();
        next();
      } else {
        fail(serverMessage(res), false, true);
      }
    }, function (err) {
      if (err && err.aborted) { return; }
      fail(t("无法连接服务器，请检查网络后重试。", "Cannot reach the server; check the network and try again."), false, true);
    });
  }

  /* A remembered upload of the chosen file: ask the server where it stands and offer to resume. */
  input.addEventListener("change", function () {
    var file = input.files && input.files[0];
    offer.hidden = true;
    offer.textContent = "";
    if (!file || (up && up.running)) { return; }
    var known = recall(keyOf(file));
    if (!known) { return; }
    json("GET", api + "/" + known.id).then(function (res) {
      if (res.status !== 200 || !res.body || res.body.status !== "open") { forget(keyOf(file)); return; }
      var pct = Math.floor(res.body.received * 100 / file.size);
      offer.appendChild(make("span", {}, t("这个文件上次没有传完（服务器已收到 ", "This file's last upload did not finish (the server has ") +
        mb(res.body.received) + " / " + mb(file.size) + t("，", ", ") + pct + "%" +
        t("）。点“上传并归集”或“只校验”将从断点继续。", "). Upload or Validate will go on from there. ")));
      var restart = make("button", {type: "button", "class": "link", id: "ingest-upload-restart"},
        t("从头重新上传", "Start again from the beginning"));
      restart.addEventListener("click", function () {
        json("DELETE", api + "/" + known.id).then(function () {}, function () {});  // the server deletes the partial file
        forget(keyOf(file));
        offer.hidden = true;
      });
      offer.appendChild(restart);
      offer.hidden = false;
    }, function () { /* offline: the submit will try again */ });
  });

  /* After a reload: say which files of this entry are unfinished (the browser cannot reopen them itself). */
  var left = unfinished();
  if (left.length) {
    offer.appendChild(make("span", {}, t("有未传完的文件：", "Unfinished uploads: ") + left.map(function (u) {
      return u.name + t("（", " (") + (u.size ? Math.floor(u.received * 100 / u.size) : 0) + t("%）", "%)");
    }).join(t("、", ", ")) + t("。重新选择同一文件即可从断点续传。", ". Choose the same file again to resume.")));
    offer.hidden = false;
  }
}());

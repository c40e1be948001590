/* Resumable upload of an image archive with tus (static/vendor/tus-js-client, the
 * maintained tus 1.0 client), then a normal form submit with the finished upload's id.
 *
 * The uploads app speaks tus 1.0 at /api/v1/uploads/ (creation, HEAD/PATCH offsets,
 * termination, checksum). tus-js-client keeps the upload's URL in localStorage per file
 * and competition, so a dropped connection or a reload resumes instead of restarting.
 *
 * Before uploading, the file's SHA-256 (the browser's SubtleCrypto, files up to
 * HASHED_MAX bytes, secure contexts only) is offered to the submissions API: when the
 * team's artifact with that digest is still kept, the submission is made at once and
 * nothing is uploaded; otherwise the upload goes ahead as usual.
 */
(function () {
  "use strict";
  var form = document.getElementById("submit-form");
  if (!form || !window.tus || !window.tus.isSupported || !window.podiumUnits) return;
  var input = form.querySelector('input[type="file"][name="image"]');
  var uploadField = form.querySelector('input[name="upload"]');
  var box = document.getElementById("upload-box");
  var bar = document.getElementById("upload-progress");
  var text = document.getElementById("upload-text");
  var button = document.getElementById("submit-button");
  var api = new URL(form.dataset.uploadsUrl, window.location.href).href;
  var csrf = form.querySelector('input[name="csrfmiddlewaretoken"]').value;
  var chunkSize = Number(form.dataset.chunkSize) || 8 * 1024 * 1024;

  var size = window.podiumUnits.formatSize;  // static/units.js: the server's rule

  var resumedFrom = 0;
  var HASHED_MAX = 1024 * 1024 * 1024;  // bytes: SubtleCrypto hashes a file held in memory

  function sha256(file) {
    if (!window.crypto || !window.crypto.subtle || file.size > HASHED_MAX) return Promise.resolve(null);
    text.textContent = "Checking whether your team uploaded this file before…";
    return file.arrayBuffer()
      .then(function (bytes) { return window.crypto.subtle.digest("SHA-256", bytes); })
      .then(function (digest) {
        return Array.from(new Uint8Array(digest), function (b) { return b.toString(16).padStart(2, "0"); }).join("");
      })
      .catch(function () { return null; });  // unreadable here: the upload decides
  }

  function reuse(digest) {
    // The submission from the team's kept artifact, or null (unknown or gone: upload it).
    if (!digest) return Promise.resolve(null);
    var debug = form.querySelector('input[name="debug"]');
    var description = form.querySelector('input[name="description"]');
    var body = { sha256: digest, debug: Boolean(debug && debug.checked), description: description ? description.value : "" };
    return fetch(form.dataset.submissionsUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body),
    }).then(function (response) {
      if (response.status === 201) return response.json();
      // Unknown or deleted: upload it. Any other refusal (daily limit, not joined, ...)
      // would refuse the uploaded file too: say it now, before sending any byte.
      return response.json().then(function (body) {
        var code = body && body.code;
        if (response.status >= 500 || !code || code === "unknown_artifact" || code === "artifact_deleted") return null;
        return { refused: body.detail || "The submission was refused (HTTP " + response.status + ")." };
      }, function () { return null; });
    }).catch(function () { return null; });
  }

  function show(done, total, started, note) {
    var pct = total ? Math.floor((done / total) * 1000) / 10 : 0;
    bar.value = pct;
    bar.textContent = pct + "%";
    var seconds = (Date.now() - started) / 1000;
    var rate = seconds > 0.5 ? " · " + size((done - resumedFrom) / seconds) + "/s" : "";
    text.textContent = size(done) + " of " + size(total) + " (" + pct + "%)" + rate + (note ? " · " + note : "");
  }

  function fail(message) {
    text.textContent = message;
    text.classList.add("error");
    button.disabled = false;
    input.disabled = false;
  }

  function serverWords(error) {
    // The server's own message (JSON "detail") when there is one; else the client's.
    var response = error && error.originalResponse;
    if (response) {
      try {
        var body = JSON.parse(response.getBody());
        if (body && body.detail) return body.detail;
      } catch (e) { /* not JSON */ }
      if (response.getStatus() === 404) return "The upload expired; submit again to start over.";
      return "The upload failed (HTTP " + response.getStatus() + ").";
    }
    return "The connection keeps failing; submit again later to resume where it stopped.";
  }

  function upload(file) {
    return new Promise(function (resolve) {
      var started = Date.now();
      var task = new window.tus.Upload(file, {
        endpoint: api,
        chunkSize: chunkSize,
        retryDelays: [0, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000],
        metadata: { filename: file.name, competition: form.dataset.competition },
        headers: { "X-CSRFToken": csrf },
        removeFingerprintOnSuccess: true,
        fingerprint: function (f) {
          return Promise.resolve(["podium", form.dataset.competition, f.name, f.size, f.lastModified].join(":"));
        },
        onShouldRetry: function (error) {
          var status = error.originalResponse ? error.originalResponse.getStatus() : 0;
          return status === 0 || status >= 500 || status === 408 || status === 429 || status === 409;
        },
        onProgress: function (sent, total) {
          if (resumedFrom < 0) resumedFrom = sent;  // the rate counts this session's bytes
          show(sent, total, started);
        },
        onError: function (error) { fail(serverWords(error)); resolve(null); },
        onSuccess: function () {
          resolve(task.url.replace(/\/+$/, "").split("/").pop());
        },
      });
      task.findPreviousUploads().then(function (previous) {
        if (previous.length) {
          task.resumeFromPreviousUpload(previous[0]);
          resumedFrom = -1;
          text.textContent = "Resuming the upload…";
        }
        task.start();
      });
    });
  }

  form.addEventListener("submit", function (event) {
    if (uploadField.value || !input.files || !input.files.length) return;  // the server decides
    event.preventDefault();
    var file = input.files[0];
    var limit = Number(form.dataset.sizeLimit);
    box.hidden = false;
    text.classList.remove("error");
    if (limit && file.size > limit) { fail("The file is " + size(file.size) + "; the limit is " + size(limit) + "."); return; }
    button.disabled = true;
    sha256(file).then(reuse).then(function (created) {
      if (created && created.refused) { fail(created.refused); return null; }
      if (created) {
        text.textContent = "Your team uploaded this file before: submitted without uploading it again.";
        window.location.href = form.dataset.submissionPage.replace(/\/0\/$/, "/" + created.id + "/");
        return null;
      }
      return upload(file);
    }).then(function (id) {
      if (!id) return;
      uploadField.value = id;
      input.disabled = true;  // the bytes are on the server already
      text.textContent = "Upload complete: " + size(file.size) + ". Creating the submission…";
      form.submit();
    }, function (error) { fail("The upload failed: " + error); });
  });
})();

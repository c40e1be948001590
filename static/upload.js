/* Resumable chunked upload of an image archive, then a normal form submit.
 *
 * Protocol (uploads app): POST /api/v1/uploads/ {filename, size, competition} -> {id, chunk_size};
 * PATCH /api/v1/uploads/<id>/ with Upload-Offset and the raw bytes -> {offset, complete};
 * 409 {offset} when the server has a different offset. The upload id is kept in
 * localStorage per file, so a dropped connection or a reload resumes instead of restarting.
 */
(function () {
  "use strict";
  var form = document.getElementById("submit-form");
  if (!form || !window.XMLHttpRequest || !window.Blob || !Blob.prototype.slice || !window.podiumUnits) return;
  var input = form.querySelector('input[type="file"][name="image"]');
  var uploadField = form.querySelector('input[name="upload"]');
  var box = document.getElementById("upload-box");
  var bar = document.getElementById("upload-progress");
  var text = document.getElementById("upload-text");
  var button = document.getElementById("submit-button");
  var api = form.dataset.uploadsUrl;
  var csrf = form.querySelector('input[name="csrfmiddlewaretoken"]').value;

  var size = window.podiumUnits.formatSize;  // static/units.js: the server's rule

  function request(method, url, body, headers, onProgress) {
    return new Promise(function (resolve) {
      var xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("X-CSRFToken", csrf);
      Object.keys(headers || {}).forEach(function (k) { xhr.setRequestHeader(k, headers[k]); });
      if (onProgress) xhr.upload.onprogress = function (e) { onProgress(e.loaded); };
      xhr.onload = function () {
        var data = {};
        try { data = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        resolve({ status: xhr.status, data: data });
      };
      xhr.onerror = xhr.ontimeout = function () { resolve({ status: 0, data: {} }); };
      xhr.send(body);
    });
  }

  function wait(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  var resumedFrom = 0;

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

  async function upload(file) {
    var key = "podium-upload:" + form.dataset.competition + ":" + file.name + ":" + file.size + ":" + file.lastModified;
    var id = localStorage.getItem(key), offset = 0, chunk = 8 * 1024 * 1024, r;
    if (id) {
      r = await request("GET", api + id + "/");
      if (r.status === 200 && r.data.size === file.size) { offset = r.data.offset; } else { id = null; }
    }
    if (!id) {
      r = await request("POST", api, JSON.stringify({ filename: file.name, size: file.size, competition: form.dataset.competition }),
        { "Content-Type": "application/json" });
      if (r.status !== 201) { fail(r.data.detail || ("The upload could not start (HTTP " + r.status + ").")); return null; }
      id = r.data.id;
      chunk = r.data.chunk_size || chunk;
      localStorage.setItem(key, id);
    }
    var started = Date.now(), failures = 0;
    resumedFrom = offset;
    show(offset, file.size, started, offset ? "resuming" : "");
    while (offset < file.size) {
      var end = Math.min(offset + chunk, file.size);
      var base = offset;
      r = await request("PATCH", api + id + "/", file.slice(offset, end),
        { "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" },
        function (loaded) { show(base + loaded, file.size, started); });
      if (r.status === 200) { offset = r.data.offset; failures = 0; show(offset, file.size, started); continue; }
      if (r.status === 409 && typeof r.data.offset === "number") { offset = r.data.offset; continue; }
      if (r.status === 404) { localStorage.removeItem(key); fail("The upload expired; submit again to start over."); return null; }
      if (r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429) {
        fail(r.data.detail || ("The upload failed (HTTP " + r.status + ")."));
        return null;
      }
      failures += 1;
      if (failures > 30) { fail("The connection keeps failing; submit again later to resume where it stopped."); return null; }
      var delay = Math.min(30, Math.pow(2, Math.min(failures, 5)));
      show(offset, file.size, started, "connection lost, retrying in " + delay + " s");
      await wait(delay * 1000);
      r = await request("GET", api + id + "/");
      if (r.status === 200) offset = r.data.offset;
    }
    localStorage.removeItem(key);
    return id;
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
    upload(file).then(function (id) {
      if (!id) return;
      uploadField.value = id;
      input.disabled = true;  // the bytes are on the server already
      text.textContent = "Upload complete: " + size(file.size) + ". Creating the submission…";
      form.submit();
    }, function (error) { fail("The upload failed: " + error); });
  });
})();

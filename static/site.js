// Thumbs in the browser: uploads straight to S3 with progress (one file or several), live
// status, and S3's errors in plain words. Every page works without this script.
"use strict";
(function () {
  var FIRST_POLL_MS = 750;
  var MAX_POLL_MS = 5000;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text) node.textContent = text;
    return node;
  }

  function capitalize(word) { return word.charAt(0).toUpperCase() + word.slice(1); }

  function fileSize(bytes) {
    return bytes < 1e6 ? (bytes / 1e3).toFixed(1) + " kB" : (bytes / 1e6).toFixed(1) + " MB";
  }

  function csrfToken() {
    var meta = document.querySelector("meta[name=csrf-token]");
    return meta ? meta.content : "";
  }

  // Ask for a job's status until it ends: soon at first, then less often.
  function poll(statusUrl, onUpdate) {
    var delay = FIRST_POLL_MS;
    function again() {
      delay = Math.min(delay * 2, MAX_POLL_MS);
      setTimeout(ask, delay);
    }
    function ask() {
      fetch(statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          return response.json().then(function (body) {
            if (!response.ok) throw new Error(body.message || "status " + response.status);
            return body;
          });
        })
        .then(function (job) {
          onUpdate(job);
          if (!job.finished) again();
        })
        .catch(function (error) {
          onUpdate(null, error);
          again();
        });
    }
    setTimeout(ask, delay);
  }

  // S3 answers a refused upload with XML; say what it means.
  function s3Problem(xhr, maxMb) {
    if (xhr.status === 0) return "The upload was interrupted. Check your connection and try again.";
    var xml = new DOMParser().parseFromString(xhr.responseText || "", "application/xml");
    var code = (xml.querySelector("Code") || {}).textContent || "";
    var text = (xml.querySelector("Message") || {}).textContent || "";
    if (code === "EntityTooLarge") return "This file is larger than " + maxMb + " MB.";
    if (code === "EntityTooSmall") return "This file is empty.";
    if (code === "KeyTooLongError") return "This file's name is too long. Rename it and try again.";
    if (code === "AccessDenied" && /expired/i.test(text)) {
      return "This upload form has expired. Reload the page and try again.";
    }
    if (code === "AccessDenied" && /Content-Type/.test(text)) return "This file is not an image.";
    if (code === "SignatureDoesNotMatch" || code === "AccessDenied" || code === "InvalidAccessKeyId") {
      return "The upload was refused. Reload the page and try again.";
    }
    return "The upload failed (" + (code || "HTTP " + xhr.status) + "). Try again in a moment.";
  }

  function sendToS3(upload, file, maxMb, onProgress) {
    return new Promise(function (resolve, reject) {
      var data = new FormData();
      Object.keys(upload.fields).forEach(function (name) {
        data.append(name, name === "Content-Type" ? file.type || "image/unknown" : upload.fields[name]);
      });
      data.append("file", file);  // S3 ignores every field after the file
      var xhr = new XMLHttpRequest();
      xhr.open("POST", upload.url);
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) onProgress(Math.round((event.loaded / event.total) * 100));
      });
      xhr.addEventListener("load", function () {
        if (xhr.status >= 200 && xhr.status < 300) resolve();
        else reject(new Error(s3Problem(xhr, maxMb)));
      });
      xhr.addEventListener("error", function () { reject(new Error(s3Problem(xhr, maxMb))); });
      xhr.send(data);
    });
  }

  function renditionFigure(r, filename, statusUrl) {
    var figure = el("figure", { "class": "rendition" });
    figure.appendChild(el("img", { src: r.src, width: r.width, height: r.height, "data-name": r.name,
      "data-status-url": statusUrl,
      alt: capitalize(r.name) + " of " + (filename || "your image") }));
    var caption = el("figcaption");
    caption.appendChild(el("strong", {}, capitalize(r.name)));
    caption.appendChild(el("span", {}, r.width + " × " + r.height + " px" +
      (r.size ? " · " + fileSize(r.size) : "")));
    caption.appendChild(el("a", { "class": "button", href: r.download_url }, "Download " + r.name));
    figure.appendChild(caption);
    return figure;
  }

  // A page's images load from S3 by links that expire after a few minutes. One that fails
  // later (the page left open, an image loaded lazily, restored from the cache) asks its
  // job's status for a fresh link, at most once a minute.
  function renewExpiredImages() {
    document.addEventListener("error", function (event) {
      var img = event.target;
      if (img.tagName !== "IMG" || !img.dataset.statusUrl) return;
      var now = Date.now();
      if (now - Number(img.dataset.renewedAt || 0) < 60000) return;
      img.dataset.renewedAt = String(now);
      fetch(img.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (job) {
          var fresh = (job.renditions || []).filter(function (r) { return r.name === img.dataset.name; })[0];
          if (fresh) img.src = fresh.src;
        })
        .catch(function () {});
    }, true);
  }

  // --- The status page -----------------------------------------------------------------
  function jobPage(section) {
    var message = document.getElementById("job-message");
    var steps = section.querySelectorAll(".steps li");
    var again = document.getElementById("again");

    function show(job, error) {
      if (!job) {
        message.textContent = "Lost touch with the server (" + error.message + "); trying again…";
        return;
      }
      section.className = "job status-" + job.status;
      section.dataset.status = job.status;
      var step = job.step;
      steps.forEach(function (item, index) {
        var n = index + 1;
        var complete = n < step || (n === steps.length && job.status === "done");
        item.classList.toggle("complete", complete);
        item.classList.toggle("current", n === step && !complete);
        if (n === step) item.setAttribute("aria-current", "step");
        else item.removeAttribute("aria-current");
      });
      if (message.textContent !== job.message) message.textContent = job.message;
      again.hidden = !job.trouble;
      if (job.status === "done") {
        var box = document.getElementById("renditions");
        box.textContent = "";
        job.renditions.forEach(function (r) {
          box.appendChild(renditionFigure(r, job.filename, job.status_url));
        });
      }
    }

    if (section.dataset.finished !== "true") poll(section.dataset.statusUrl, show);
  }

  // --- The upload page -----------------------------------------------------------------
  function uploadPage(form) {
    var input = form.querySelector("input[type=file]");
    var message = document.getElementById("upload-message");
    var drop = document.getElementById("drop");
    var list = document.getElementById("progress");
    var maxBytes = Number(form.dataset.maxBytes);
    var maxMb = form.dataset.maxMb;
    var maxFiles = Number(form.dataset.maxFiles);
    var first = JSON.parse(form.dataset.first);  // this page's own job, for the first file

    var hint = document.getElementById("drop-hint");
    input.multiple = true;  // a plain form sends one file; a script can send several
    form.classList.add("enhanced");
    hint.textContent = "or drop up to " + maxFiles + " images here";

    function problem(file) {
      if (file.size === 0) return "This file is empty.";
      // S3 keys stop at 1024 bytes, and the name is part of the key.
      if (new Blob([file.name]).size > 900) return "This file's name is too long. Rename it and try again.";
      if (file.type && file.type.indexOf("image/") !== 0) return "This file is not an image.";
      if (file.size > maxBytes) return "This file is larger than " + maxMb + " MB.";
      return "";
    }

    function say(text) {
      message.textContent = text;
      message.classList.toggle("error", Boolean(text));
    }

    function uploadsFor(count) {
      var uploads = [];
      if (first) { uploads.push(first); first = null; count -= 1; }
      if (count === 0) return Promise.resolve(uploads);
      return fetch(form.dataset.jobsUrl, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json",
                   "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ count: count })
      }).then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.message || "The server refused (" + response.status + ").");
          return uploads.concat(body.uploads);
        });
      });
    }

    function track(file) {
      var item = el("li", { "class": "progress-item" });
      item.appendChild(el("div", { "class": "name" }, file.name));
      var bar = el("progress", { max: "100", value: "0", "aria-label": "Uploading " + file.name });
      item.appendChild(bar);
      var status = el("p", { "class": "message", role: "status", "aria-live": "polite" }, "Uploading…");
      item.appendChild(status);
      list.appendChild(item);
      list.hidden = false;
      return { item: item, bar: bar, status: status };
    }

    function follow(row, upload, file) {
      row.status.textContent = "Uploaded. Converting…";
      poll(upload.status_url, function (job, error) {
        if (!job) { row.status.textContent = "Lost touch with the server; trying again…"; return; }
        row.status.textContent = job.message;
        row.item.className = "progress-item status-" + job.status;
        if (!job.finished) return;
        if (job.status === "done" && job.renditions.length) {
          row.item.appendChild(el("img", { src: job.renditions[0].src, "class": "thumb",
            alt: "Thumbnail of " + file.name, width: job.renditions[0].width, height: job.renditions[0].height }));
        }
        row.item.appendChild(el("a", { href: upload.job_url }, "Open " + file.name));
      });
    }

    function start(files) {
      files = Array.prototype.slice.call(files);
      if (!files.length) { say("Choose an image first."); return; }
      if (files.length > maxFiles) { say("Choose at most " + maxFiles + " images at a time."); return; }
      var refused = files.filter(problem);
      var good = files.filter(function (file) { return !problem(file); });
      say(refused.map(function (file) {
        return (files.length > 1 ? file.name + ": " : "") + problem(file);
      }).join(" "));
      if (!good.length) return;
      var rows = good.map(track);
      var single = good.length === 1 && files.length === 1;
      uploadsFor(good.length).then(function (uploads) {
        good.forEach(function (file, index) {
          var row = rows[index];
          sendToS3(uploads[index].upload, file, maxMb, function (percent) { row.bar.value = percent; })
            .then(function () {
              row.bar.value = 100;
              // One file: go on to its page, as the plain form does.
              if (single) window.location.assign(uploads[index].uploaded_url);
              else follow(row, uploads[index], file);
            })
            .catch(function (error) {
              row.item.classList.add("error");
              row.status.textContent = error.message;
              if (single) say(error.message);
            });
        });
      }).catch(function (error) { say(error.message); });
      input.value = "";
    }

    input.addEventListener("change", function () {
      var names = Array.prototype.map.call(input.files, function (file) { return file.name; });
      if (names.length) hint.textContent = names.join(", ");
      var text = Array.prototype.map.call(input.files, problem).filter(Boolean)[0] || "";
      say(text);
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      start(input.files);
    });
    ["dragenter", "dragover"].forEach(function (name) {
      drop.addEventListener(name, function (event) {
        event.preventDefault();
        drop.classList.add("dragging");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      drop.addEventListener(name, function () { drop.classList.remove("dragging"); });
    });
    drop.addEventListener("drop", function (event) {
      event.preventDefault();
      start(event.dataTransfer.files);
    });
  }

  renewExpiredImages();
  var section = document.getElementById("job");
  if (section) jobPage(section);
  var form = document.getElementById("upload");
  if (form) uploadPage(form);
})();

// Thumbs in the browser: uploads straight to S3 with progress (one file or several, chosen,
// dropped or pasted, each cancellable), live status by long polling, S3's errors in plain
// words, times in the person's zone. Every page works without this script.
"use strict";
(function () {
  // A status request waits on the server up to this long for news (it answers at once when
  // the job moves on). A wait that ends without news is followed by a pause, longer each
  // time, so that a job held up for minutes costs few invocations.
  var WAIT_SECONDS = 10;
  var FIRST_PAUSE_MS = 1000;
  var MAX_PAUSE_MS = 30000;
  var PREVIEW_AFTER_MS = 250;
  // What a file is when the browser names no type (Chromium names none for HEIC): its
  // extension says, and S3 is told so. Without an extension, the worker reads its bytes.
  var TYPES_BY_EXTENSION = {
    heic: "image/heic", heif: "image/heif", hif: "image/heif", avif: "image/avif",
    jpg: "image/jpeg", jpeg: "image/jpeg", jfif: "image/jpeg", png: "image/png",
    apng: "image/apng", gif: "image/gif", webp: "image/webp", bmp: "image/bmp",
    tif: "image/tiff", tiff: "image/tiff"
  };

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text) node.textContent = text;
    return node;
  }

  // The type to send to S3, "" for a file that is not an image.
  function imageType(file) {
    if (file.type && file.type !== "application/octet-stream") return file.type;
    var dot = file.name.lastIndexOf(".");
    if (dot < 0) return "image/unknown";
    return TYPES_BY_EXTENSION[file.name.slice(dot + 1).toLowerCase()] || "";
  }

  function capitalize(word) { return word.charAt(0).toUpperCase() + word.slice(1); }

  function fileSize(bytes) {
    return bytes < 1e6 ? (bytes / 1e3).toFixed(1) + " kB" : (bytes / 1e6).toFixed(1) + " MB";
  }

  function csrfToken() {
    var meta = document.querySelector("meta[name=csrf-token]");
    return meta ? meta.content : "";
  }

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) {
            var error = new Error(body.message || "status " + response.status);
            error.status = response.status;
            throw error;
          }
          return body;
        });
      });
  }

  // Follow a job until it ends: each request waits on the server until the job has moved on
  // from what the page shows (`since`), so the page learns of "done" at once.
  function watch(statusUrl, since, onUpdate) {
    var pause = FIRST_PAUSE_MS;
    function ask() {
      var url = statusUrl + "?wait=" + WAIT_SECONDS + "&since=" + encodeURIComponent(since);
      getJSON(url).then(function (job) {
        var news = job.status !== since;
        since = job.status;
        onUpdate(job);
        if (job.finished) return;
        if (news) { pause = FIRST_PAUSE_MS; ask(); return; }
        setTimeout(ask, pause);
        pause = Math.min(pause * 2, MAX_PAUSE_MS);
      }).catch(function (error) {
        onUpdate(null, error);
        if (error.status >= 400 && error.status < 500) return;  // gone, or not ours: final
        setTimeout(ask, pause);
        pause = Math.min(pause * 2, MAX_PAUSE_MS);
      });
    }
    ask();
  }

  // S3 answers a refused upload with XML; say what it means.
  function s3Problem(xhr, maxMb, notImage) {
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
    if (code === "AccessDenied" && /Content-Type/.test(text)) return notImage;
    if (code === "SignatureDoesNotMatch" || code === "AccessDenied" || code === "InvalidAccessKeyId") {
      return "The upload was refused. Reload the page and try again.";
    }
    return "The upload failed (" + (code || "HTTP " + xhr.status) + "). Try again in a moment.";
  }

  // What S3 stored, as its 201 answer names it (PostResponse): the bucket, key and etag
  // that a plain form's redirect carries, so the site looks up that one key.
  function storedBy(xhr) {
    var doc = xhr.responseXML, found = {};
    ["Bucket", "Key", "ETag"].forEach(function (name) {
      var node = doc && doc.getElementsByTagName(name)[0];
      if (node) found[name.toLowerCase()] = node.textContent;
    });
    return found;
  }

  // Send one file to S3; return {done: Promise, cancel: function}.
  function sendToS3(upload, file, limits, onProgress) {
    var xhr = new XMLHttpRequest();
    var done = new Promise(function (resolve, reject) {
      var data = new FormData();
      Object.keys(upload.fields).forEach(function (name) {
        data.append(name, name === "Content-Type" ? imageType(file) : upload.fields[name]);
      });
      data.append("file", file);  // S3 ignores every field after the file
      xhr.open("POST", upload.url);
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) onProgress(Math.round((event.loaded / event.total) * 100));
      });
      xhr.addEventListener("load", function () {
        if (xhr.status >= 200 && xhr.status < 300) resolve(storedBy(xhr));
        else reject(new Error(s3Problem(xhr, limits.maxMb, limits.notImage)));
      });
      xhr.addEventListener("error", function () {
        reject(new Error(s3Problem(xhr, limits.maxMb, limits.notImage)));
      });
      xhr.addEventListener("abort", function () {
        var error = new Error("Cancelled. Nothing was kept.");
        error.cancelled = true;
        reject(error);
      });
      xhr.send(data);
    });
    return { done: done, cancel: function () { xhr.abort(); } };
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
      getJSON(img.dataset.statusUrl)
        .then(function (job) {
          var fresh = (job.renditions || []).filter(function (r) { return r.name === img.dataset.name; })[0];
          if (fresh) img.src = fresh.src;
        })
        .catch(function () {});
    }, true);
  }

  // Buttons that copy a field (a share link, an HTML snippet); hidden without script.
  function copyButtons() {
    document.querySelectorAll("[data-copy]").forEach(function (button) { button.hidden = false; });
    document.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("[data-copy]") : null;
      if (!button) return;
      var field = document.getElementById(button.dataset.copy);
      var said = button.parentNode.querySelector(".copied") || el("span", { "class": "copied", role: "status" });
      button.parentNode.appendChild(said);
      function copied() { said.textContent = "Copied"; }
      field.select();
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(field.value).then(copied, function () {
          said.textContent = "Press Ctrl+C (⌘C) to copy";
        });
      } else {
        said.textContent = document.execCommand("copy") ? "Copied" : "Press Ctrl+C (⌘C) to copy";
      }
    });
  }

  // Times are written in UTC, which any browser can show; with script, in the person's zone.
  function localTimes() {
    var format = new Intl.DateTimeFormat(undefined, {
      day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
      hourCycle: "h23", timeZoneName: "short"
    });
    document.querySelectorAll("time[data-local]").forEach(function (time) {
      var moment = new Date(time.getAttribute("datetime"));
      if (isNaN(moment)) return;
      time.title = time.textContent;
      time.textContent = format.format(moment);
    });
  }

  // --- The status page -----------------------------------------------------------------
  function jobPage(section) {
    var message = document.getElementById("job-message");
    var title = document.getElementById("job-title");
    var steps = section.querySelectorAll(".steps li");
    var end = document.getElementById("job-end");
    var shown = section.dataset.status;

    function show(job, error) {
      if (!job) {
        message.textContent = error.status ? error.message
          : "Lost touch with the server (" + error.message + "); trying again…";
        return;
      }
      section.className = "job tone-" + job.tone + " status-" + job.status;
      section.dataset.status = job.status;
      job.steps.forEach(function (step, index) {
        var item = steps[index];
        item.className = "step-" + step.state;
        item.querySelector(".step-words").textContent = ": " + step.words;
        if (index + 1 === job.step) item.setAttribute("aria-current", "step");
        else item.removeAttribute("aria-current");
      });
      if (title.textContent !== job.title) title.textContent = job.title;
      if (message.textContent !== job.message) message.textContent = job.message;
      document.title = job.title + ": " + (job.filename || "your upload") + " · Thumbs";
      if (job.status !== shown) {
        shown = job.status;
        end.innerHTML = job.html;  // our own template, escaped on the server
        copyButtons.reveal();
      }
    }

    if (section.dataset.finished !== "true") watch(section.dataset.statusUrl, shown, show);
  }

  // --- The upload page -----------------------------------------------------------------
  function uploadPage(form) {
    var input = form.querySelector("input[type=file]");
    var message = document.getElementById("upload-message");
    var drop = document.getElementById("drop");
    var title = document.getElementById("drop-title");
    var hint = document.getElementById("drop-hint");
    var preview = document.getElementById("drop-preview");
    var button = document.getElementById("upload-button");
    var list = document.getElementById("progress");
    var maxBytes = Number(form.dataset.maxBytes);
    var maxMb = form.dataset.maxMb;
    var maxFiles = Number(form.dataset.maxFiles);
    var notImage = "This file is not an image we can read. Upload a " + form.dataset.formats + " image.";
    var first = JSON.parse(form.dataset.first);  // this page's own job, for the first file
    // A phone has no pointer to drop with: it is not offered one.
    var canDrop = window.matchMedia && window.matchMedia("(hover: hover) and (pointer: fine)").matches;
    var idleHint = canDrop ? "or drop up to " + maxFiles + " images here, or paste one"
      : "Up to " + maxFiles + " images at a time";
    var chosen = [];
    var sending = 0;

    input.multiple = true;  // a plain form sends one file; a script can send several
    form.noValidate = true;  // a pasted image is chosen without the input: the script checks
    form.classList.add("enhanced");
    hint.textContent = idleHint;
    button.disabled = true;

    function problem(file) {
      if (file.size === 0) return "This file is empty.";
      // S3 keys stop at 1024 bytes, and the name is part of the key.
      if (new Blob([file.name]).size > 900) return "This file's name is too long. Rename it and try again.";
      if (imageType(file).indexOf("image/") !== 0) return notImage;
      if (file.size > maxBytes) return "This file is larger than " + maxMb + " MB.";
      return "";
    }

    function say(text) {
      message.textContent = text;
      message.classList.toggle("error", Boolean(text));
    }

    // Show what was chosen: its name, its size and a small preview; enable what may be used.
    function choose(files) {
      chosen = Array.prototype.slice.call(files || []);
      preview.hidden = true;
      drop.classList.toggle("chosen", chosen.length > 0);
      if (!chosen.length) {
        title.textContent = "Choose an image";
        hint.textContent = idleHint;
        say("");
        update();
        return;
      }
      var bytes = chosen.reduce(function (sum, file) { return sum + file.size; }, 0);
      title.textContent = chosen.length === 1 ? chosen[0].name : chosen.length + " images";
      hint.textContent = fileSize(bytes) + " · choose again to change";
      var refused = chosen.filter(problem);
      say(chosen.length > maxFiles ? "Choose at most " + maxFiles + " images at a time."
        : refused.map(function (file) {
          return (chosen.length > 1 ? file.name + ": " : "") + problem(file);
        }).join(" "));
      update();
      drawPreview(chosen[0]);
    }

    // A preview drawn on a canvas, decoded off the main thread at its small size; a format
    // the browser cannot show (TIFF) simply has none. Decoding a 12 MP photo takes a core for
    // a tenth of a second: it waits a moment, and is skipped if the upload has begun by
    // then (the page moves on, and the upload and its conversion need the processor).
    function drawPreview(file) {
      if (!window.createImageBitmap || problem(file)) return;
      setTimeout(function () {
        if (sending === 0 && chosen[0] === file) decodePreview(file);
      }, PREVIEW_AFTER_MS);
    }

    function decodePreview(file) {
      createImageBitmap(file, { resizeHeight: 192, resizeQuality: "medium" }).then(function (bitmap) {
        if (chosen[0] !== file) return;
        preview.width = bitmap.width;
        preview.height = bitmap.height;
        preview.getContext("2d").drawImage(bitmap, 0, 0);
        bitmap.close();
        preview.hidden = false;
      }).catch(function () {});
    }

    function usable() {
      return chosen.length > 0 && chosen.length <= maxFiles && chosen.some(function (f) { return !problem(f); });
    }

    function update() {
      button.disabled = sending > 0 || !usable();
      button.textContent = sending > 0 ? "Uploading…" : "Upload and convert";
      input.disabled = sending > 0;
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
      var item = el("li", { "class": "progress-item sending" });
      item.appendChild(el("div", { "class": "name" }, file.name));
      var row = el("div", { "class": "row" });
      var bar = el("progress", { max: "100", value: "0", "aria-label": "Uploading " + file.name });
      var cancel = el("button", { type: "button", "class": "secondary cancel" }, "Cancel");
      cancel.setAttribute("aria-label", "Cancel uploading " + file.name);
      row.appendChild(bar);
      row.appendChild(cancel);
      item.appendChild(row);
      var status = el("p", { "class": "message", role: "status" }, "Uploading " + fileSize(file.size) + "…");
      item.appendChild(status);
      list.appendChild(item);
      list.hidden = false;
      return { item: item, row: row, bar: bar, cancel: cancel, status: status };
    }

    // The upload has ended (sent, refused or cancelled): its bar goes.
    function sent(row, state, text) {
      row.item.classList.remove("sending");
      if (state) row.item.classList.add(state);
      row.row.remove();
      row.status.textContent = text;
    }

    function follow(row, upload, file) {
      row.item.classList.add("working");
      watch(upload.status_url, "processing", function (job, error) {
        if (!job) { row.status.textContent = error.status ? error.message : "Lost touch with the server; trying again…"; return; }
        row.item.className = "progress-item status-" + job.status + (job.finished ? "" : " working");
        row.status.textContent = job.finished && job.status !== "done" ? job.title + ": " + job.message
          : job.message + (job.note ? " " + job.note : "");
        if (!job.finished) return;
        var links = el("div", { "class": "links" });
        if (job.status === "done" && job.renditions.length) {
          var thumb = job.renditions[0];
          row.item.insertBefore(el("img", { src: thumb.src, "class": "thumb", alt: "Thumbnail of " + file.name,
            width: thumb.width, height: thumb.height, "data-name": thumb.name,
            "data-status-url": job.status_url }), row.status);
          job.downloads.slice().reverse().forEach(function (d) {
            links.appendChild(el("a", { "class": "button secondary", href: d.download_url,
              "aria-label": "Download " + d.name + " of " + file.name }, "Download " + d.name));
          });
        }
        links.appendChild(el("a", { href: upload.job_url }, "Open " + file.name));
        row.item.appendChild(links);
      });
    }

    function start(files) {
      files = Array.prototype.slice.call(files || []);
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
      sending += good.length;
      update();
      // Once nothing is sending, the drop zone is ready for more; a file that was cancelled
      // or refused stays chosen, with what was said about it.
      function ended(sentWell) {
        sending -= 1;
        if (sending === 0 && sentWell) choose([]);
        update();
      }
      uploadsFor(good.length).then(function (uploads) {
        good.forEach(function (file, index) {
          var row = rows[index];
          var limits = { maxMb: maxMb, notImage: notImage };
          var upload = sendToS3(uploads[index].upload, file, limits, function (percent) { row.bar.value = percent; });
          row.cancel.addEventListener("click", upload.cancel);
          upload.done.then(function (stored) {
            row.bar.value = 100;
            // One file: go on to its page, as the plain form does.
            if (single) {
              window.location.assign(uploads[index].uploaded_url + "?" + new URLSearchParams(stored));
              return;
            }
            sent(row, "", "Uploaded. Converting…");
            ended(true);
            follow(row, uploads[index], file);
          }).catch(function (error) {
            sent(row, error.cancelled ? "cancelled" : "failed", error.message);
            if (single && !error.cancelled) say(error.message);
            ended(false);
          });
        });
      }).catch(function (error) {
        rows.forEach(function (row) { sent(row, "failed", error.message); ended(false); });
        say(error.message);
      });
    }

    input.addEventListener("change", function () { choose(input.files); });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!button.disabled) start(chosen);
      input.value = "";
    });
    // An image copied from another page or a screenshot tool: as if it were chosen.
    document.addEventListener("paste", function (event) {
      var files = Array.prototype.filter.call((event.clipboardData || {}).files || [], function (file) {
        return imageType(file).indexOf("image/") === 0;
      });
      if (!files.length || sending > 0) return;
      event.preventDefault();
      choose(files.map(function (file, n) {
        // Pasted images are all called "image.png": number them.
        return files.length > 1 ? new File([file], "pasted-" + (n + 1) + "-" + file.name, { type: file.type }) : file;
      }));
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
      if (sending === 0) start(event.dataTransfer.files);
    });
  }

  copyButtons.reveal = function () {
    document.querySelectorAll("[data-copy]").forEach(function (button) { button.hidden = false; });
  };
  renewExpiredImages();
  copyButtons();
  localTimes();
  var section = document.getElementById("job");
  if (section) jobPage(section);
  var form = document.getElementById("upload");
  if (form) uploadPage(form);
})();

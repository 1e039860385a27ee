// Thumbs in the browser: uploads straight to S3 (one file or several, chosen, dropped or
// pasted, each cancellable), a photo shrunk first to what the renditions need, progress with
// the time left, a file kept and sent again when the connection drops, a zip of them all;
// live status by long polling, S3's errors in plain words, times in the person's zone.
// Every page works without this script.
"use strict";
(function () {
  // A status request waits on the server up to this long for news (it answers at once when
  // the job moves on). A wait that ends without news is followed by a pause, longer each
  // time, so that a job held up for minutes costs few invocations.
  var WAIT_SECONDS = 10;
  var FIRST_PAUSE_MS = 1000;
  var MAX_PAUSE_MS = 30000;
  var PREVIEW_AFTER_MS = 250;
  // The form field that tells S3, and so the result page, how large the chosen file was.
  var ORIGINAL_SIZE_FIELD = "x-amz-meta-original-size";
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

  // S3 answers a refused upload with XML; say what it means. The error says which of its
  // kinds it is: `offline` (the link dropped: the file is kept) or `expired` (a fresh form
  // may still send it).
  function s3Problem(xhr, maxMb, notImage) {
    function problem(text, kind) {
      var error = new Error(text);
      if (kind) error[kind] = true;
      return error;
    }
    if (xhr.status === 0) return problem("The connection was lost.", "offline");
    var xml = new DOMParser().parseFromString(xhr.responseText || "", "application/xml");
    var code = (xml.querySelector("Code") || {}).textContent || "";
    var text = (xml.querySelector("Message") || {}).textContent || "";
    if (code === "EntityTooLarge") return problem("This file is larger than " + maxMb + " MB.");
    if (code === "EntityTooSmall") return problem("This file is empty.");
    if (code === "KeyTooLongError") return problem("This file's name is too long. Rename it and try again.");
    if (code === "AccessDenied" && /expired/i.test(text)) {
      return problem("This upload form has expired. Reload the page and try again.", "expired");
    }
    if (code === "AccessDenied" && /Content-Type/.test(text)) return problem(notImage);
    if (code === "SignatureDoesNotMatch" || code === "AccessDenied" || code === "InvalidAccessKeyId") {
      return problem("The upload was refused. Reload the page and try again.");
    }
    return problem("The upload failed (" + (code || "HTTP " + xhr.status) + "). Try again in a moment.");
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

  // Send one file, as `prepare` made it ready, to S3; return {done: Promise, cancel, interrupt}.
  // `onProgress(loaded, total)` follows the bytes sent.
  function sendToS3(upload, sendable, limits, onProgress) {
    var xhr = new XMLHttpRequest();
    var done = new Promise(function (resolve, reject) {
      var data = new FormData();
      Object.keys(upload.fields).forEach(function (name) {
        var value = upload.fields[name];
        if (name === "Content-Type") value = sendable.type;
        if (name === ORIGINAL_SIZE_FIELD) value = String(sendable.originalSize);
        data.append(name, value);
      });
      data.append("file", sendable.blob, sendable.name);  // S3 ignores every field after the file
      xhr.open("POST", upload.url);
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) onProgress(event.loaded, event.total);
      });
      xhr.addEventListener("load", function () {
        if (xhr.status >= 200 && xhr.status < 300) resolve(storedBy(xhr));
        else reject(s3Problem(xhr, limits.maxMb, limits.notImage));
      });
      xhr.addEventListener("error", function () { reject(s3Problem(xhr, limits.maxMb, limits.notImage)); });
      xhr.addEventListener("abort", function () {
        var error = new Error(interrupted ? "The connection was lost." : "Cancelled. Nothing was kept.");
        error[interrupted ? "offline" : "cancelled"] = true;
        reject(error);
      });
      xhr.send(data);
    });
    var interrupted = false;
    return {
      done: done,
      cancel: function () { xhr.abort(); },
      // The link is gone (the browser went offline, or nothing moved for long): the file is kept.
      interrupt: function () { interrupted = true; xhr.abort(); }
    };
  }

  // "Sending 45% · 1.2 of 2.6 MB · about 12 s left": the time left from the pace so far,
  // once there is a pace to judge by.
  function progressWords(loaded, total, startedAt) {
    var words = "Sending " + Math.floor((loaded / total) * 100) + "% · " + fileSize(loaded) +
      " of " + fileSize(total);
    var elapsed = (Date.now() - startedAt) / 1000;
    if (elapsed < 1 || loaded === 0 || loaded >= total) return words;
    var left = Math.ceil(((total - loaded) * elapsed) / loaded);
    return words + " · about " + (left < 90 ? left + " s" : Math.round(left / 60) + " min") + " left";
  }

  // --- Sending less: a photo shrunk in the browser to what the renditions need ------------
  // Photographs the browser may decode. PNG and GIF (drawn more often than photographed, often
  // animated or transparent) go as they are, and so does what the browser cannot decode
  // (HEIC in Chromium, TIFF): the server reads all of those itself.
  var SHRINKABLE = ["image/jpeg", "image/webp", "image/avif", "image/heic", "image/heif", "image/bmp"];
  // ISO-BMFF brands of image sequences (an animated AVIF, a HEIC burst): sent as they are.
  var SEQUENCE_BRANDS = ["avis", "msf1", "hevs", "avcs"];

  function asIs(file) {
    return { blob: file, name: file.name, type: imageType(file), originalSize: file.size, shrunk: false };
  }

  // What a file's first bytes say: "opaque" (a still picture without alpha), "maybe" (a still
  // that may have alpha: its pixels tell) or "" (an animation, or alpha: sent as it is).
  function stillKind(file, type) {
    if (type === "image/jpeg") return Promise.resolve("opaque");
    return file.slice(0, 64).arrayBuffer().then(function (buffer) {
      var bytes = new Uint8Array(buffer);
      var text = String.fromCharCode.apply(null, bytes);
      if (type === "image/webp") {
        var chunk = text.slice(12, 16);
        if (chunk === "VP8 ") return "opaque";
        return chunk === "VP8X" && !(bytes[20] & 0x12) ? "opaque" : "";  // 0x12: alpha, animation
      }
      if (type === "image/bmp") return "maybe";
      var brands = text.slice(8, Math.min(text.length, (bytes[2] << 8) | bytes[3]));
      return SEQUENCE_BRANDS.some(function (brand) { return brands.indexOf(brand) >= 0; }) ? "" : "maybe";
    });
  }

  function opaque(context, width, height) {
    var pixels = context.getImageData(0, 0, width, height).data;
    for (var i = 3; i < pixels.length; i += 4) if (pixels[i] !== 255) return false;
    return true;
  }

  // Resolve to what to send for `file`: a photo larger than `policy.side` shrunk to it (turned
  // upright as its EXIF says) as a JPEG of `policy.quality`, or the file as it is. The server
  // reads whatever arrives as it reads any upload.
  function prepare(file, policy) {
    var type = imageType(file);
    if (!policy.side || SHRINKABLE.indexOf(type) < 0 || !window.createImageBitmap) {
      return Promise.resolve(asIs(file));
    }
    return stillKind(file, type).then(function (kind) {
      if (!kind) return asIs(file);
      return createImageBitmap(file, { imageOrientation: "from-image" }).then(function (whole) {
        var scale = policy.side / Math.max(whole.width, whole.height);
        if (scale >= 1 || whole.width * whole.height > policy.maxPixels) {
          whole.close();  // at its size already, or one the server refuses as it is
          return asIs(file);
        }
        var size = shrunkSize(whole.width, whole.height, policy);
        var width = size[0], height = size[1];
        return createImageBitmap(whole, { resizeWidth: width, resizeHeight: height, resizeQuality: "high" })
          .then(function (small) {
            whole.close();
            return encode(small, width, height, kind, policy.quality);
          })
          .then(function (blob) {
            if (!blob || blob.size >= file.size) return asIs(file);
            return { blob: blob, name: file.name, type: "image/jpeg", originalSize: file.size, shrunk: true };
          });
      });
    }).catch(function () { return asIs(file); });
  }

  // The server's fit (app/imaging_pixels.py): scaled into a side×side square, never enlarged,
  // each edge rounded half to even, as Python rounds.
  function fit(width, height, side) {
    function round(x) {
      var r = Math.round(x);
      return Math.abs(x % 1) === 0.5 && r % 2 ? r - 1 : r;
    }
    var scale = Math.min(1, side / Math.max(width, height));
    return [Math.max(1, round(width * scale)), Math.max(1, round(height * scale))];
  }

  // The size to shrink a `width`×`height` photo to: its long side `policy.side`, its short
  // side the one (of the nearest three) from which every rendition comes out as large as
  // from the original, to the pixel.
  function shrunkSize(width, height, policy) {
    var size = fit(width, height, policy.side);
    var wide = width >= height;
    var same = function (candidate) {
      return policy.sides.every(function (side) {
        return String(fit(candidate[0], candidate[1], side)) === String(fit(width, height, side));
      });
    };
    return [0, 1, -1].map(function (step) {
      return wide ? [size[0], size[1] + step] : [size[0] + step, size[1]];
    }).filter(same)[0] || size;
  }

  // A JPEG of `bitmap` at `width`×`height`; null if it has alpha after all.
  function encode(bitmap, width, height, kind, quality) {
    var canvas = el("canvas", { width: width, height: height });
    var context = canvas.getContext("2d");
    context.drawImage(bitmap, 0, 0, width, height);
    bitmap.close();
    if (kind === "maybe" && !opaque(context, width, height)) return Promise.resolve(null);
    return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", quality); })
      .then(function (blob) {
        canvas.width = canvas.height = 0;  // a phone gets the canvas's memory back at once
        return blob;
      });
  }

  // --- Download all: one zip, made in the browser ----------------------------------------
  // The images are already compressed, so the zip stores them as they are (method 0): no
  // library, and the browser does what takes no time.
  var CRC_TABLE = (function () {
    var table = new Uint32Array(256);
    for (var n = 0; n < 256; n++) {
      var c = n;
      for (var k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
    return table;
  })();

  function crc32(bytes) {
    var crc = 0xffffffff;
    for (var i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
    return (crc ^ 0xffffffff) >>> 0;
  }

  // A zip of `entries` ({name, bytes: Uint8Array}), as a Blob (APPNOTE 6.3: stored, UTF-8 names).
  function zipBlob(entries) {
    var parts = [], directory = [], offset = 0;
    var now = new Date();
    var time = (now.getHours() << 11) | (now.getMinutes() << 5) | (now.getSeconds() >> 1);
    var date = ((now.getFullYear() - 1980) << 9) | ((now.getMonth() + 1) << 5) | now.getDate();
    function header(signature, entry, name, extra) {
      var view = new DataView(new ArrayBuffer(extra ? 46 : 30));
      var at = 0;
      function u16(value) { view.setUint16(at, value, true); at += 2; }
      function u32(value) { view.setUint32(at, value, true); at += 4; }
      u32(signature);
      if (extra) u16(20);  // made by: version 2.0
      u16(20); u16(0x0800); u16(0); u16(time); u16(date);  // needs 2.0, UTF-8 name, stored
      u32(entry.crc); u32(entry.bytes.length); u32(entry.bytes.length);
      u16(name.length); u16(0);
      if (extra) { u16(0); u16(0); u16(0); u32(0); u32(extra.offset); }
      return view.buffer;
    }
    entries.forEach(function (entry) {
      var name = new TextEncoder().encode(entry.name);
      entry.crc = crc32(entry.bytes);
      directory.push(header(0x02014b50, entry, name, { offset: offset }), name);
      parts.push(header(0x04034b50, entry, name), name, entry.bytes);
      offset += 30 + name.length + entry.bytes.length;
    });
    var size = directory.reduce(function (sum, part) { return sum + part.byteLength; }, 0);
    var end = new DataView(new ArrayBuffer(22));
    end.setUint32(0, 0x06054b50, true);
    end.setUint16(8, entries.length, true);
    end.setUint16(10, entries.length, true);
    end.setUint32(12, size, true);
    end.setUint32(16, offset, true);
    return new Blob(parts.concat(directory, [end.buffer]), { type: "application/zip" });
  }

  // Save `blob` as a file called `name`, as a download would.
  function save(blob, name) {
    var link = el("a", { href: URL.createObjectURL(blob), download: name });
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(link.href); }, 60000);
  }

  // A "Download …" link goes through the site, which answers with a fresh link to S3: one
  // more request to the site, and the image's bytes out of S3 once more. When the page shows
  // that image, the browser holds those very bytes (loaded as a CORS request, kept as long as
  // their link lives): they are saved as the file the link would give. Without them (not
  // shown, not loaded, the link expired and out of the cache, offline), the link is followed.
  function downloadsFromPage() {
    document.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest("a[data-download]") : null;
      if (!link || event.defaultPrevented || event.button !== 0 ||
          event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
      var image = shownImage(link);
      if (!image) return;
      event.preventDefault();
      fetch(image.currentSrc || image.src).then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.blob();
      }).then(function (blob) {
        save(blob, link.dataset.download);
      }).catch(function () {
        window.location.assign(link.href);
      });
    });
  }

  // The loaded image of a download link's rendition, the nearest to the link (a row of the
  // upload page has its own).
  function shownImage(link) {
    for (var node = link.parentElement; node; node = node.parentElement) {
      var found = Array.prototype.filter.call(node.querySelectorAll("img[data-name]"), function (img) {
        return img.dataset.name === link.dataset.rendition;
      })[0];
      if (found) return found.complete && found.naturalWidth > 0 ? found : null;
    }
    return null;
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
        item.querySelector(".step-label").textContent = step.label;
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
  // A form is renewed before sending when less than this is left of its life: S3 checks its
  // expiry as the upload starts, and a page may have been left open for a while.
  var FORM_MARGIN_MS = 60000;
  // A file whose connection dropped is sent again when the browser says it is back online,
  // or after these pauses (a link may come back without the browser noticing it went).
  var RESEND_PAUSES_MS = [5000, 10000, 20000, 40000, 60000];
  // A transfer that has sent nothing for this long has lost its link, whatever the browser says.
  var STALLED_AFTER_MS = 30000;
  var EXTENSIONS = { "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif" };

  function uploadPage(form) {
    var input = form.querySelector("input[type=file]");
    var message = document.getElementById("upload-message");
    var drop = document.getElementById("drop");
    var title = document.getElementById("drop-title");
    var hint = document.getElementById("drop-hint");
    var preview = document.getElementById("drop-preview");
    var button = document.getElementById("upload-button");
    var list = document.getElementById("progress");
    var allRow = document.getElementById("download-all-row");
    var allButton = document.getElementById("download-all");
    var allMessage = document.getElementById("download-all-message");
    var maxBytes = Number(form.dataset.maxBytes);
    var maxMb = form.dataset.maxMb;
    var maxFiles = Number(form.dataset.maxFiles);
    var formMs = Number(form.dataset.formSeconds) * 1000;
    var notImage = "This file is not an image we can read. Upload a " + form.dataset.formats + " image.";
    var limits = { maxMb: maxMb, notImage: notImage };
    var sides = form.dataset.shrinkSides.split(" ").map(Number);
    var policy = {
      sides: sides,
      side: Math.max.apply(null, sides) * Number(form.dataset.shrinkFactor),
      quality: Number(form.dataset.shrinkQuality),
      maxPixels: Number(form.dataset.shrinkMaxPixels)
    };
    var first = JSON.parse(form.dataset.first);  // this page's own job, for the first file
    if (first) first.obtainedAt = performance.timeOrigin || Date.now() - performance.now();
    // A phone has no pointer to drop with: it is not offered one.
    var canDrop = window.matchMedia && window.matchMedia("(hover: hover) and (pointer: fine)").matches;
    var idleHint = canDrop ? "or drop up to " + maxFiles + " images anywhere here, or paste one"
      : "Up to " + maxFiles + " images at a time";
    var chosen = [];
    var rows = [];
    var prepared = new Map();

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

    // Whether a file is on its way: being prepared or sent, or kept until the link is back.
    function onItsWay(row) { return row.state === "sending" || row.state === "waiting"; }
    function busy() { return rows.some(onItsWay); }

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
      if (chosen.length <= maxFiles) prepareAll(chosen);
      drawPreview(chosen[0]);
    }

    // Shrinking starts as soon as files are chosen, so that the click often finds them ready;
    // one at a time, since a phone holds one decoded photo well, not ten.
    function prepareAll(files) {
      prepared.forEach(function (_, file) {  // what was chosen before, and is not on its way
        var kept = files.indexOf(file) >= 0 || rows.some(function (row) { return row.file === file && onItsWay(row); });
        if (!kept) prepared.delete(file);
      });
      var previous = Promise.resolve();
      files.forEach(function (file) {
        if (prepared.has(file) || problem(file)) return;
        var ready = previous.then(function () { return prepare(file, policy); });
        prepared.set(file, ready);
        previous = ready;
      });
    }

    function preparedFor(file) {
      if (!prepared.has(file)) prepareAll([file]);
      return prepared.get(file);
    }

    // A preview drawn on a canvas, decoded off the main thread at its small size; a format
    // the browser cannot show (TIFF) simply has none. Decoding a 12 MP photo takes a core for
    // a tenth of a second: it waits a moment, and is skipped if the upload has begun by
    // then (the page moves on, and the upload and its conversion need the processor).
    function drawPreview(file) {
      if (!window.createImageBitmap || problem(file)) return;
      setTimeout(function () {
        if (!busy() && chosen[0] === file) decodePreview(file);
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
      var sending = busy();
      button.disabled = sending || !usable();
      button.textContent = sending ? "Sending…" : "Upload and convert";
      input.disabled = sending;
    }

    // Upload forms for `count` more files, each stamped with when it was made.
    function askForms(count) {
      return fetch(form.dataset.jobsUrl, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json",
                   "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ count: count })
      }).catch(function () {
        var error = new Error("The connection was lost.");  // fetch rejects only when no answer came
        error.offline = true;
        throw error;
      }).then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.message || "The server refused (" + response.status + ").");
          var now = Date.now();
          body.uploads.forEach(function (upload) { upload.obtainedAt = now; });
          return body.uploads;
        });
      });
    }

    function uploadsFor(count) {
      var uploads = [];
      if (first) { uploads.push(first); first = null; count -= 1; }
      if (count === 0) return Promise.resolve(uploads);
      return askForms(count).then(function (more) { return uploads.concat(more); });
    }

    // The row's form, or a fresh one (a new job) when it has expired or nearly: S3 would
    // refuse it, and a person should not have to reload anything.
    function freshForm(row) {
      if (row.upload && Date.now() - row.upload.obtainedAt < formMs - FORM_MARGIN_MS) {
        return Promise.resolve(row.upload);
      }
      return askForms(1).then(function (uploads) {
        row.upload = uploads[0];
        return row.upload;
      });
    }

    // A file's row: it stays until the file's end, whatever that is.
    function track(file) {
      var item = el("li", { "class": "progress-item sending" });
      item.appendChild(el("div", { "class": "name" }, file.name));
      var line = el("div", { "class": "row" });
      var bar = el("progress", { max: "100", value: "0", "aria-label": "Sending " + file.name });
      var again = el("button", { type: "button", "class": "again", "aria-label": "Send again: " + file.name }, "Send again");
      var cancel = el("button", { type: "button", "class": "secondary cancel", "aria-label": "Cancel sending " + file.name }, "Cancel");
      again.hidden = true;
      [bar, again, cancel].forEach(function (node) { line.appendChild(node); });
      item.appendChild(line);
      var status = el("p", { "class": "message", role: "status" }, "Preparing " + fileSize(file.size) + "…");
      item.appendChild(status);
      list.appendChild(item);
      list.hidden = false;
      var row = { file: file, item: item, line: line, bar: bar, again: again, status: status, state: "sending", tries: 0 };
      rows.push(row);
      cancel.addEventListener("click", function () { stop(row); });
      again.addEventListener("click", function () { resend(row); });
      return row;
    }

    // A file refused before sending keeps a row too, with its reason.
    function trackRefused(file, reason) {
      var item = el("li", { "class": "progress-item failed refused" });
      item.appendChild(el("div", { "class": "name" }, file.name));
      item.appendChild(el("p", { "class": "message" }, reason));
      list.appendChild(item);
      list.hidden = false;
    }

    // Send a row's file: prepared (shrunk, when it may be), with a form still good.
    function send(row) {
      row.state = "sending";
      row.item.className = "progress-item sending";
      row.again.hidden = true;
      update();
      var sendable;
      preparedFor(row.file).then(function (ready) {
        sendable = ready;
        return row.state === "sending" ? freshForm(row) : null;
      }).then(function (upload) {
        if (row.state !== "sending") return;  // cancelled meanwhile
        return transfer(row, upload, sendable).then(function (stored) { arrived(row, stored); });
      }).catch(function (error) { missed(row, error); });
    }

    // Send to S3, saying how far it is each second as well as at each progress event (a slow
    // link may report seldom), and give up on a transfer that has stalled: a link that died
    // without a word leaves a request hanging.
    function transfer(row, upload, sendable) {
      var startedAt = Date.now();
      var sent = { loaded: 0, total: sendable.blob.size };
      var from = sendable.shrunk ? " (shrunk from " + fileSize(sendable.originalSize) + ")" : "";
      var stalled;
      function watchdog() {
        clearTimeout(stalled);
        stalled = setTimeout(function () { row.transfer.interrupt(); }, STALLED_AFTER_MS);
      }
      function show() {
        if (!sent.loaded) return;
        row.bar.value = Math.round((sent.loaded / sent.total) * 100);
        row.status.textContent = progressWords(sent.loaded, sent.total, startedAt) + from;
      }
      row.status.textContent = "Sending " + fileSize(sendable.blob.size) + from + "…";
      row.transfer = sendToS3(upload.upload, sendable, limits, function (loaded, total) {
        sent = { loaded: loaded, total: total };
        watchdog();
        show();
      });
      var ticker = setInterval(show, 1000);
      watchdog();
      function stop() { clearInterval(ticker); clearTimeout(stalled); }
      return row.transfer.done.then(function (stored) { stop(); return stored; }, function (error) { stop(); throw error; });
    }

    // `stored`: the bucket, key and etag S3 named in its answer, which the site looks up.
    function arrived(row, stored) {
      row.bar.value = 100;
      prepared.delete(row.file);
      // One file: go on to its page, as the plain form does.
      if (row.single) {
        row.state = "sent";
        window.location.assign(row.upload.uploaded_url + "?" + new URLSearchParams(stored));
        return;
      }
      ended(row, "sent", "", "Sent. Converting…");
      follow(row);
    }

    function missed(row, error) {
      if (row.state !== "sending") return;  // cancelled: said already
      if (error.offline) { waitForLink(row); return; }
      if (error.expired && !row.renewed) {
        row.renewed = true;  // the form outlived its time after all (a clock off): once more
        row.upload.obtainedAt = 0;
        send(row);
        return;
      }
      prepared.delete(row.file);
      ended(row, "failed", "failed", error.message);
      if (row.single) say(error.message);
    }

    // The link dropped: the file stays here, and goes again as soon as it can.
    function waitForLink(row) {
      row.state = "waiting";
      row.item.className = "progress-item waiting";
      row.again.hidden = false;
      row.bar.value = 0;
      row.status.textContent = "The connection was lost. Your file is kept here and sent again " +
        "when the connection is back; keep this page open.";
      row.tries += 1;
      later(row);
      update();
    }

    // Try again after a pause, longer each time; not while the browser knows it is offline
    // (its `online` event comes first then).
    function later(row) {
      var pause = RESEND_PAUSES_MS[Math.min(row.tries - 1, RESEND_PAUSES_MS.length - 1)];
      row.timer = setTimeout(function () {
        if (navigator.onLine === false) later(row);
        else resend(row);
      }, pause);
    }

    function resend(row) {
      if (row.state !== "waiting") return;
      clearTimeout(row.timer);
      send(row);
    }

    function stop(row) {
      if (row.state !== "sending" && row.state !== "waiting") return;
      clearTimeout(row.timer);
      var transfer = row.transfer;
      ended(row, "cancelled", "cancelled", "Cancelled. Nothing was kept.");
      prepared.delete(row.file);
      if (transfer) transfer.cancel();
    }

    // The sending has ended (sent, refused or cancelled): its bar goes. Once nothing is on
    // its way and the last one went well, the drop zone is ready for more; a file that was
    // cancelled or refused stays chosen, with what was said about it.
    function ended(row, state, look, text) {
      row.state = state;
      clearTimeout(row.timer);
      row.item.className = "progress-item" + (look ? " " + look : "");
      row.line.remove();
      row.status.textContent = text;
      if (!busy() && state === "sent") choose([]);
      update();
    }

    function follow(row) {
      var file = row.file;
      row.item.classList.add("working");
      watch(row.upload.status_url, "processing", function (job, error) {
        if (!job) { row.status.textContent = error.status ? error.message : "Lost touch with the server; trying again…"; return; }
        row.item.className = "progress-item status-" + job.status + (job.finished ? "" : " working");
        row.status.textContent = job.finished && job.status !== "done" ? job.title + ": " + job.message
          : job.message + (job.note ? " " + job.note : "");
        if (!job.finished) return;
        var links = el("div", { "class": "links" });
        if (job.status === "done" && job.renditions.length) {
          row.job = job;
          row.status.textContent = "Done" + (job.note ? ". " + job.note : ".");
          var thumb = job.renditions[0];
          // crossorigin before src: its first request is the CORS one, which a download
          // and Download all then read from the cache.
          row.item.insertBefore(el("img", { crossorigin: "anonymous", src: thumb.src, "class": "thumb", alt: "Thumbnail of " + file.name,
            width: thumb.width, height: thumb.height, "data-name": thumb.name,
            "data-status-url": job.status_url }), row.status);
          job.downloads.slice().reverse().forEach(function (d) {
            links.appendChild(el("a", { "class": "button secondary", href: d.download_url,
              "data-rendition": d.name, "data-download": d.download_name,
              "aria-label": d.download_words + " of " + file.name }, d.download_words));
          });
        }
        links.appendChild(el("a", { href: row.upload.job_url }, "Open " + file.name));
        row.item.appendChild(links);
        offerAll();
      });
    }

    function start(files) {
      files = Array.prototype.slice.call(files || []);
      if (!files.length) { say("Choose an image first."); return; }
      if (files.length > maxFiles) { say("Choose at most " + maxFiles + " images at a time."); return; }
      var single = files.length === 1;
      say(single ? "" : files.filter(problem).map(function (file) {
        return (files.length > 1 ? file.name + ": " : "") + problem(file);
      }).join(" "));
      // Each file's row, in the order chosen; a refused one's says why.
      var batch = [];
      files.forEach(function (file) {
        if (!problem(file)) batch.push(track(file));
        else if (files.length > 1) trackRefused(file, problem(file));
      });
      if (!batch.length) return;
      update();
      batch.forEach(function (row) { row.single = single; });
      uploadsFor(batch.length).then(function (uploads) {
        batch.forEach(function (row, index) {
          row.upload = uploads[index];
          if (row.state === "sending") send(row);
        });
      }).catch(function (error) {
        // No forms: with no connection, each file waits for one (and a form of its own).
        batch.forEach(function (row) { if (row.state === "sending") missed(row, error); });
        if (!error.offline) say(error.message);
      });
    }

    // --- Download all ---
    function doneRows() {
      return rows.filter(function (row) { return row.job; });
    }

    function offerAll() {
      allRow.hidden = doneRows().length < 2;
    }

    // One image's bytes, from S3 by its link, or by a fresh one if that expired.
    function imageBytes(rendition, statusUrl) {
      function get(src) {
        return fetch(src).then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.arrayBuffer();
        });
      }
      return get(rendition.src).catch(function () {
        return getJSON(statusUrl).then(function (job) {
          var fresh = job.renditions.filter(function (r) { return r.name === rendition.name; })[0];
          if (!fresh) throw new Error("an image is gone");
          return get(fresh.src);
        });
      }).then(function (buffer) { return new Uint8Array(buffer); });
    }

    function zipOfDone() {
      var taken = {};
      var wanted = [];
      doneRows().forEach(function (row) {
        var stem = row.file.name.replace(/\.[^.]*$/, "") || "image";
        row.job.renditions.forEach(function (rendition) {
          var name = stem + "-" + rendition.name;
          var extension = "." + (EXTENSIONS[rendition.content_type] || "img");
          for (var n = 2; taken[name + extension]; n++) name = stem + "-" + n + "-" + rendition.name;
          taken[name + extension] = true;
          wanted.push({ name: name + extension, rendition: rendition, statusUrl: row.job.status_url });
        });
      });
      return Promise.all(wanted.map(function (entry) {
        return imageBytes(entry.rendition, entry.statusUrl).then(function (bytes) {
          return { name: entry.name, bytes: bytes };
        });
      })).then(zipBlob);
    }

    allButton.addEventListener("click", function () {
      allButton.disabled = true;
      allMessage.textContent = "Making the zip…";
      zipOfDone().then(function (blob) {
        save(blob, "thumbs.zip");
        allMessage.textContent = "Zip ready: " + fileSize(blob.size) + ".";
      }).catch(function (error) {
        allMessage.textContent = "The zip could not be made (" + error.message + "). Download the images one by one.";
      }).then(function () { allButton.disabled = false; });
    });

    input.addEventListener("change", function () { choose(input.files); });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!button.disabled) start(chosen);
      input.value = "";
    });
    // Leaving while a file is on its way loses it: the browser asks first.
    window.addEventListener("beforeunload", function (event) {
      if (!busy()) return;
      event.preventDefault();
      event.returnValue = "";
    });
    window.addEventListener("online", function () { rows.forEach(resend); });
    window.addEventListener("offline", function () {
      rows.forEach(function (row) { if (row.state === "sending" && row.transfer) row.transfer.interrupt(); });
    });
    // An image copied from another page or a screenshot tool: as if it were chosen.
    document.addEventListener("paste", function (event) {
      var files = Array.prototype.filter.call((event.clipboardData || {}).files || [], function (file) {
        return imageType(file).indexOf("image/") === 0;
      });
      if (!files.length || busy()) return;
      event.preventDefault();
      choose(files.map(function (file, n) {
        // Pasted images are all called "image.png": number them.
        return files.length > 1 ? new File([file], "pasted-" + (n + 1) + "-" + file.name, { type: file.type }) : file;
      }));
    });
    // A drop anywhere on this page counts as a drop on the zone.
    ["dragenter", "dragover"].forEach(function (name) {
      document.addEventListener(name, function (event) {
        if (!carriesFiles(event)) return;
        event.preventDefault();
        drop.classList.add("dragging");
      });
    });
    document.addEventListener("dragleave", function (event) {
      if (!event.relatedTarget) drop.classList.remove("dragging");  // left the window
    });
    document.addEventListener("drop", function (event) {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      drop.classList.remove("dragging");
      if (!busy()) start(event.dataTransfer.files);
    });
  }

  function carriesFiles(event) {
    return Boolean(event.dataTransfer) && Array.prototype.indexOf.call(event.dataTransfer.types || [], "Files") >= 0;
  }

  // Elsewhere a file dropped by mistake would open in the browser and leave the site.
  function ignoreDrops() {
    ["dragover", "drop"].forEach(function (name) {
      document.addEventListener(name, function (event) {
        if (carriesFiles(event)) event.preventDefault();
      });
    });
  }

  copyButtons.reveal = function () {
    document.querySelectorAll("[data-copy]").forEach(function (button) { button.hidden = false; });
  };
  renewExpiredImages();
  downloadsFromPage();
  copyButtons();
  localTimes();
  var section = document.getElementById("job");
  if (section) jobPage(section);
  var form = document.getElementById("upload");
  if (form) uploadPage(form);
  else ignoreDrops();
})();

// The status page: polls the job's status with backoff and updates the page in place.
"use strict";
(function () {
  var section = document.getElementById("job");
  if (!section || section.dataset.finished === "true") return;
  var statusUrl = section.dataset.statusUrl;
  var message = document.getElementById("job-message");
  var steps = section.querySelectorAll(".steps li");
  var again = document.getElementById("again");
  var STEP = { awaiting_upload: 0, expired: 0, uploaded: 1, processing: 2, stalled: 2, done: 3, failed: 3 };
  var delay = 500;

  function showSteps(status) {
    var step = STEP[status];
    steps.forEach(function (item, index) {
      var n = index + 1;
      var complete = n < step || (n === 3 && status === "done");
      item.classList.toggle("complete", complete);
      item.classList.toggle("current", n === step && !complete);
      if (n === step) item.setAttribute("aria-current", "step");
      else item.removeAttribute("aria-current");
    });
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text) node.textContent = text;
    return node;
  }

  function capitalize(word) { return word.charAt(0).toUpperCase() + word.slice(1); }

  function showRenditions(job) {
    var box = document.getElementById("renditions");
    box.textContent = "";
    job.renditions.forEach(function (r) {
      var figure = el("figure", { "class": "rendition" });
      figure.appendChild(el("img", { src: r.url, width: r.width, height: r.height,
        alt: capitalize(r.name) + " of " + (job.filename || "your image") }));
      var caption = el("figcaption");
      caption.appendChild(el("strong", {}, capitalize(r.name)));
      caption.appendChild(el("span", {}, r.width + " × " + r.height + " px"));
      caption.appendChild(el("a", { "class": "button", href: r.download_url }, "Download " + r.name));
      figure.appendChild(caption);
      box.appendChild(figure);
    });
  }

  function show(job) {
    section.className = "job status-" + job.status;
    section.dataset.status = job.status;
    showSteps(job.status);
    if (message.textContent !== job.message) message.textContent = job.message;
    again.hidden = ["failed", "stalled", "expired"].indexOf(job.status) < 0;
    if (job.status === "done") showRenditions(job);
  }

  function poll() {
    fetch(statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("status " + response.status);
        return response.json();
      })
      .then(function (job) {
        show(job);
        if (job.finished) return;
        delay = Math.min(delay * 2, 5000);
        setTimeout(poll, delay);
      })
      .catch(function () {
        message.textContent = "Lost touch with the server; trying again…";
        delay = Math.min(delay * 2, 5000);
        setTimeout(poll, delay);
      });
  }

  setTimeout(poll, delay);
})();

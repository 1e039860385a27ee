// The upload page: checks a file before it is sent, and sends its real Content-Type.
"use strict";
(function () {
  var form = document.getElementById("upload");
  if (!form) return;
  var input = form.querySelector("input[type=file]");
  var message = document.getElementById("upload-message");
  var maxBytes = Number(form.dataset.maxBytes);
  var maxMb = form.dataset.maxMb;

  function problem(file) {
    if (!file) return "Choose an image first.";
    if (file.size === 0) return "This file is empty.";
    if (file.size > maxBytes) return "This file is larger than " + maxMb + " MB.";
    if (file.type && file.type.indexOf("image/") !== 0) return "This file is not an image.";
    return "";
  }

  function check() {
    var file = input.files[0];
    var text = problem(file);
    message.textContent = text;
    message.classList.toggle("error", Boolean(text));
    if (!text) {
      // The policy accepts any image/ type; S3 stores the one we send.
      form.elements["Content-Type"].value = file.type || "image/unknown";
    }
    return !text;
  }

  input.addEventListener("change", check);
  form.addEventListener("submit", function (event) {
    if (!check()) event.preventDefault();
  });
})();

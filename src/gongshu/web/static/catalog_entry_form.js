/* gongshu: progressive enhancement of the catalogue entry form (the form works without it).
   - checks the whole entry against the server's rules whenever a field changes
     (POST /api/v1/catalog/entries/validate) and shows each problem next to its field;
   - "添加一行" adds a data item row in place instead of a round trip. */
(function () {
  "use strict";
  var form = document.getElementById("entry-form");
  if (!form || !window.fetch || !window.JSON) { return; }
  var url = form.getAttribute("data-validate-url");
  var csrf = form.querySelector("input[name=csrf_token]").value;
  var english = document.documentElement.lang === "en";
  var TEXT = ["code", "resource_attr", "topic", "name", "summary", "format", "sharing_type", "sharing_condition",
    "sharing_basis", "sharing_mode", "sharing_scope", "open_type", "open_condition", "update_cycle",
    "legal_basis", "business", "source_system", "sharing_period"];
  var OPTIONAL = ["class_code", "release_date", "grade", "collecting_org", "verifying_org"];
  var FLAGS = ["is_identifier", "is_key", "is_personal", "claims_source"];

  function el(name) { return form.elements[name] || null; }
  function val(name) { var e = el(name); return e ? String(e.value).trim() : ""; }
  function opt(name) { var v = val(name); return v === "" ? null : v; }

  var rowOf = [];  // position in the posted item list -> form row number
  function collect() {
    var data = {};
    TEXT.forEach(function (k) { data[k] = val(k); });
    OPTIONAL.forEach(function (k) { data[k] = opt(k); });
    data.related_codes = val("related_codes").split(/[\s,，;；、]+/).filter(Boolean);
    data.items = [];
    rowOf = [];
    var rows = parseInt(val("item_rows"), 10) || 0;
    for (var i = 0; i < rows; i++) {
      var p = "items-" + i + "-";
      if (!val(p + "name") && !val(p + "length") && !val(p + "meaning") && !val(p + "element_code")) { continue; }
      var item = {name: val(p + "name"), type: val(p + "type"), length: opt(p + "length"), meaning: val(p + "meaning"),
        grade: opt(p + "grade"), sharing_type: opt(p + "sharing_type"), open_type: opt(p + "open_type"),
        element_code: opt(p + "element_code")};
      FLAGS.forEach(function (k) { var c = el(p + k); item[k] = !!(c && c.checked); });
      data.items.push(item);
      rowOf.push(i);
    }
    return data;
  }

  function target(field) {
    var m = /^items\[(\d+)\](?:\.(\w+))?$/.exec(field);
    if (m) { return el("items-" + rowOf[+m[1]] + "-" + (m[2] || "name")); }
    return el(field.replace(/\[\d+\]$/, ""));
  }

  function show(errors) {
    Array.prototype.forEach.call(form.querySelectorAll(".field-error"), function (n) { n.remove(); });
    Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid]"), function (n) {
      n.removeAttribute("aria-invalid");
    });
    errors.forEach(function (e) {
      var t = target(e.field);
      if (!t) { return; }
      t.setAttribute("aria-invalid", "true");
      var span = document.createElement("span");
      span.className = "field-error";
      span.textContent = english ? e.message_en : e.message;
      t.insertAdjacentElement("afterend", span);
    });
  }

  var timer = null;
  function check() {
    clearTimeout(timer);
    timer = setTimeout(function () {
      fetch(url, {method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf}, body: JSON.stringify(collect())})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (res) { if (res) { show(res.errors); } })
        .catch(function () { /* the server checks again on save */ });
    }, 250);
  }
  form.addEventListener("change", check);

  var add = document.getElementById("add-row");
  var body = document.querySelector("#items tbody");
  if (add && body) {
    add.addEventListener("click", function (ev) {
      var rows = body.querySelectorAll("tr.item-row");
      if (!rows.length) { return; }
      ev.preventDefault();
      var counter = el("item_rows");
      var n = parseInt(counter.value, 10) || rows.length;
      var row = rows[rows.length - 1].cloneNode(true);
      row.id = "";
      row.cells[0].textContent = String(n + 1);
      Array.prototype.forEach.call(row.querySelectorAll(".field-error"), function (x) { x.remove(); });
      Array.prototype.forEach.call(row.querySelectorAll("input, select"), function (inp) {
        inp.name = inp.name.replace(/^items-\d+-/, "items-" + n + "-");
        inp.removeAttribute("aria-invalid");
        if (inp.type === "checkbox") { inp.checked = false; }
        else if (inp.tagName === "SELECT") { inp.selectedIndex = 0; }
        else { inp.value = ""; }
      });
      body.appendChild(row);
      counter.value = String(n + 1);
    });
  }
}());

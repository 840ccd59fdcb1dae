// The report's sample explorer (pipeline/report/explorer.py embeds this file and its data).
// Every piece of data is shown with textContent or a form control's value: never innerHTML,
// never a URL or an attribute taken from the data.
(function () {
  "use strict";
  var PAGE = 100; // rows drawn at a time, however many match
  var source = document.getElementById("explorer-data");
  var root = document.getElementById("explorer");
  if (!source || !root) return;
  var D = JSON.parse(source.textContent);
  var F = {};
  D.fields.forEach(function (name, i) { F[name] = i; });
  var rows = D.rows, samples = D.samples;
  var CLASS_LABEL = ["right", "partly right", "wrong", "not scored"];
  var CLASS_CSS = ["ex-right", "ex-partial", "ex-wrong", "ex-unscored"];

  // -- small helpers ------------------------------------------------------------------------
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function add(parent) {
    for (var i = 1; i < arguments.length; i++) if (arguments[i]) parent.appendChild(arguments[i]);
    return parent;
  }
  function textOf(cell) { return cell === null || cell === undefined ? null : (typeof cell === "string" ? cell : cell[0]); }
  function fullLength(cell) { return cell !== null && typeof cell === "object" ? cell[1] : null; }
  function int(v) { return v === null || v === undefined ? "–" : Number(v).toLocaleString("en-US"); }
  function usd(v) {
    if (v === null || v === undefined) return "–";
    if (v >= 1) return "$" + v.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    if (v >= 0.01) return "$" + v.toFixed(4);
    return v ? "$" + v.toFixed(6).replace(/0+$/, "").replace(/\.$/, "") : "$0";
  }
  function secs(v) {
    if (v === null || v === undefined) return "–";
    return v >= 0.1 ? v.toFixed(2) + "s" : Math.round(1000 * v) + "ms";
  }
  function scoreText(r) {
    var c = r[F["class"]], s = r[F.score];
    if (c === 1) return s.toFixed(2);
    return CLASS_LABEL[c];
  }
  // A <pre> with the text, and a note when the embedded text was cut.
  function block(cell, cls) {
    var wrap = el("div", cls || "ex-block");
    add(wrap, el("pre", null, textOf(cell)));
    var n = fullLength(cell);
    if (n !== null) {
      add(wrap, el("p", "ex-cut", "cut at " + int(textOf(cell).length) + " of " + int(n) +
        " characters here; the whole text is in " + (cls === "ex-prompt" ? "prompts.parquet" : "results.parquet")));
    }
    return wrap;
  }
  function prettyCalls(text) {
    try {
      var calls = JSON.parse(text);
      (Array.isArray(calls) ? calls : [calls]).forEach(function (c) {
        var f = c && c["function"];
        if (f && typeof f.arguments === "string") {
          try { f.arguments = JSON.parse(f.arguments); } catch (e) { /* shown as sent */ }
        }
      });
      return JSON.stringify(calls, null, 2);
    } catch (e) { return text; }
  }
  function callNames(text) {
    try {
      var calls = JSON.parse(text);
      return (Array.isArray(calls) ? calls : [calls]).map(function (c) {
        return (c && c["function"] && c["function"].name) || (c && c.name) || "?";
      }).join(", ");
    } catch (e) { return text; }
  }
  function snippet(r) {
    var out = textOf(r[F.output]);
    if (out) return out.replace(/\s+/g, " ").slice(0, 160);
    if (r[F.tool_calls]) return "[tool calls] " + callNames(textOf(r[F.tool_calls]));
    if (r[F.error] >= 0) return textOf(r[F.error_message]) || D.errors[r[F.error]];
    return "";
  }

  // -- the rows of each sample, and the text searched ---------------------------------------
  var bySample = samples.map(function () { return []; });
  rows.forEach(function (r, i) { bySample[r[F.sample]].push(i); });
  var sampleHay = null, rowHay = null;
  function cellsText(list) {
    return list.map(function (c) { return textOf(c) || ""; }).join("\n").toLowerCase();
  }
  function buildHay() {
    sampleHay = samples.map(function (s) {
      var parts = [s.id, s.target];
      (s.prompt || []).forEach(function (m) { parts.push(m[1]); });
      return cellsText(parts);
    });
    rowHay = rows.map(function (r) {
      var parts = [r[F.output], r[F.reasoning], r[F.tool_calls], r[F.error_message]];
      r[F.scorers].forEach(function (m) { parts.push(m[1], m[2]); });
      return cellsText(parts);
    });
  }

  // -- the controls -------------------------------------------------------------------------
  var state = { dataset: -1, model: -1, cls: -1, finish: -2, error: -2, disagree: false, q: "", page: 0 };
  var matched = [];

  function select(id, label, options) {
    var wrap = el("label", "ex-control", label + " ");
    var s = el("select");
    s.id = id;
    options.forEach(function (o) {
      var opt = el("option", null, o[1]);
      opt.value = String(o[0]);
      s.appendChild(opt);
    });
    wrap.appendChild(s);
    return [wrap, s];
  }
  function counted(values, at) {
    var n = values.map(function () { return 0; });
    rows.forEach(function (r) { var v = at(r); if (v >= 0) n[v] += 1; });
    return n;
  }
  var nClass = counted(CLASS_LABEL, function (r) { return r[F["class"]]; });
  var controls = el("div", "ex-filters");
  var dsSel = select("explorer-dataset", "Dataset", [[-1, "all"]].concat(
    D.datasets.map(function (d, i) { return [i, d]; })));
  var mSel = select("explorer-model", "Model", [[-1, "all"]].concat(
    D.models.map(function (m, i) { return [i, m]; })));
  var cSel = select("explorer-score", "Score", [[-1, "any"]].concat(
    CLASS_LABEL.map(function (c, i) { return [i, c + " (" + int(nClass[i]) + ")"]; })
      .filter(function (o, i) { return nClass[i] > 0; })));
  var unanswered = rows.some(function (r) { return r[F.finish] < 0; });
  var fSel = select("explorer-finish", "Finish", [[-2, "any"]].concat(
    D.finish_reasons.map(function (f, i) { return [i, f]; }),
    unanswered ? [[-1, "none (no answer)"]] : []));
  var eSel = select("explorer-error", "Error", [[-2, "any"], [-1, "no error"]].concat(
    D.errors.map(function (e, i) { return [i, e]; })));
  var disWrap = el("label", "ex-control");
  var dis = el("input");
  dis.type = "checkbox";
  dis.id = "explorer-disagree";
  add(disWrap, dis, document.createTextNode(" the models disagree"));
  if (D.models.length < 2) {
    dis.disabled = true;
    disWrap.title = "one model: nothing to disagree with";
  }
  var qWrap = el("label", "ex-control ex-search", "Search ");
  var q = el("input");
  q.type = "search";
  q.id = "explorer-search";
  q.placeholder = "prompt, target or answer text";
  q.autocomplete = "off";
  qWrap.appendChild(q);
  add(controls, dsSel[0], mSel[0], cSel[0], fSel[0], eSel[0], disWrap, qWrap);

  var count = el("p", "ex-count");
  count.id = "explorer-count";
  var table = el("table", "ex-table");
  var head = el("tr");
  ["dataset", "sample", "model", "epoch", "score", "finish", "error", "answer"].forEach(function (h) {
    head.appendChild(el("th", null, h));
  });
  add(table, add(el("thead"), head));
  var body = el("tbody");
  body.id = "explorer-rows";
  table.appendChild(body);
  var scroller = add(el("div", "ex-scroll"), table);
  var pager = el("div", "ex-pager");
  var prev = el("button", null, "← previous");
  prev.type = "button";
  prev.id = "explorer-prev";
  var pageNote = el("span", null);
  pageNote.id = "explorer-page";
  var next = el("button", null, "next →");
  next.type = "button";
  next.id = "explorer-next";
  add(pager, prev, pageNote, next);
  var detail = el("section", "ex-sample");
  detail.id = "explorer-sample";
  detail.hidden = true;
  add(root, controls, add(el("div", "ex-status"), count, pager), scroller, detail);

  // -- filtering and drawing ----------------------------------------------------------------
  function apply() {
    var needle = state.q.trim().toLowerCase();
    if (needle && !rowHay) buildHay();
    var out = [];
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      var s = samples[r[F.sample]];
      if (state.dataset >= 0 && s.d !== state.dataset) continue;
      if (state.model >= 0 && r[F.model] !== state.model) continue;
      if (state.cls >= 0 && r[F["class"]] !== state.cls) continue;
      if (state.finish > -2 && r[F.finish] !== state.finish) continue;
      if (state.error > -2 && r[F.error] !== state.error) continue;
      if (state.disagree && !s.disagree) continue;
      if (needle && sampleHay[r[F.sample]].indexOf(needle) < 0 && rowHay[i].indexOf(needle) < 0) continue;
      out.push(i);
    }
    matched = out;
    state.page = 0;
    draw();
  }

  function draw() {
    var seen = {};
    var nSamples = 0;
    for (var k = 0; k < matched.length; k++) {
      var si = rows[matched[k]][F.sample];
      if (!seen[si]) { seen[si] = 1; nSamples++; }
    }
    count.textContent = int(matched.length) + " of " + int(rows.length) + " answers match (" +
      int(nSamples) + (nSamples === 1 ? " sample)" : " samples)");
    count.setAttribute("data-count", String(matched.length));
    count.setAttribute("data-samples", String(nSamples));
    var pages = Math.max(1, Math.ceil(matched.length / PAGE));
    if (state.page >= pages) state.page = pages - 1;
    var start = state.page * PAGE, end = Math.min(matched.length, start + PAGE);
    var frag = document.createDocumentFragment();
    for (var j = start; j < end; j++) frag.appendChild(rowNode(matched[j]));
    body.replaceChildren(frag);
    pageNote.textContent = matched.length ? (int(start + 1) + "–" + int(end) + " of " + int(matched.length)) : "no answer matches";
    prev.disabled = state.page === 0;
    next.disabled = state.page >= pages - 1;
  }

  function rowNode(i) {
    var r = rows[i], s = samples[r[F.sample]];
    var tr = el("tr");
    tr.setAttribute("data-row", String(i));
    var open = el("button", "ex-open", s.id);
    open.type = "button";
    open.title = "open this sample: every model's answer side by side";
    open.addEventListener("click", function () { show(r[F.sample]); });
    add(tr, el("td", null, D.datasets[s.d]), add(el("td"), open), el("td", null, D.models[r[F.model]]),
      el("td", null, r[F.epoch]), el("td", CLASS_CSS[r[F["class"]]], scoreText(r)),
      el("td", null, r[F.finish] >= 0 ? D.finish_reasons[r[F.finish]] : "–"),
      el("td", null, r[F.error] >= 0 ? D.errors[r[F.error]] : ""),
      el("td", "ex-snippet", snippet(r)));
    return tr;
  }

  // -- one sample, every answer side by side ------------------------------------------------
  function fact(dl, term, value) {
    add(dl, el("dt", null, term), el("dd", null, value));
  }
  function extracted(cell) {
    var t = textOf(cell);
    if (t === null) return el("td", "ex-extracted ex-unscored", "–");
    if (t === "") return el("td", "ex-extracted ex-unscored", "(empty)");
    return el("td", "ex-extracted", t);
  }
  function answerNode(i) {
    var r = rows[i], s = samples[r[F.sample]];
    var card = el("article", "ex-answer");
    card.setAttribute("data-model", D.models[r[F.model]]);
    add(card, el("h4", null, D.models[r[F.model]] + (r[F.epoch] > 1 || bySample[r[F.sample]].length > D.models.length ? " · epoch " + r[F.epoch] : "")));
    var c = r[F["class"]];
    add(card, el("p", "ex-badge " + CLASS_CSS[c], c === 1 ? "partly right: " + r[F.score].toFixed(2) : CLASS_LABEL[c]));
    var dl = el("dl", "ex-facts");
    fact(dl, "finish", r[F.finish] >= 0 ? D.finish_reasons[r[F.finish]] : "–");
    if (r[F.error] >= 0) fact(dl, "error", D.errors[r[F.error]]);
    var est = r[F.usage_estimated] ? " (estimated)" : "";
    fact(dl, "tokens in / out", int(r[F.prompt_tokens]) + " / " + int(r[F.completion_tokens]) + est);
    fact(dl, "cost", usd(r[F.cost_usd]) + (r[F.cost_usd] === null ? " (unknown)" : ""));
    fact(dl, "latency", secs(r[F.latency_s]));
    card.appendChild(dl);
    if (r[F.error_message] !== null) add(card, el("h5", null, "Error"), block(r[F.error_message]));
    if (r[F.output] !== null && (textOf(r[F.output]) !== "" || !r[F.tool_calls])) {
      add(card, el("h5", null, "Answer"), block(r[F.output]));
    }
    if (r[F.tool_calls] !== null) {
      var calls = r[F.tool_calls];
      var shown = fullLength(calls) === null ? prettyCalls(calls) : calls;
      add(card, el("h5", null, "Tool calls"), block(shown));
    }
    var cols = D.scorers[s.d];
    if (cols.length) {
      add(card, el("h5", null, "Scorers"));
      var t = el("table", "ex-scorers");
      add(t, add(el("tr"), el("th", null, "scorer"), el("th", null, "extracted answer"), el("th", "ex-num", "score")));
      r[F.scorers].forEach(function (m, k) {
        add(t, add(el("tr"), el("td", null, cols[k] + (k === 0 ? " (primary)" : "")),
          extracted(m[1]),
          el("td", "ex-num", m[0] === null ? "–" : m[0].toFixed(2))));
        if (m[2] !== null) {
          var cell = el("td", "ex-why");
          cell.colSpan = 3;
          add(cell, el("span", "ex-why-label", cols[k] + " explanation"), block(m[2]));
          add(t, add(el("tr"), cell));
        }
      });
      card.appendChild(t);
    }
    if (r[F.reasoning] !== null) {
      var d = el("details");
      add(d, el("summary", null, "Reasoning"), block(r[F.reasoning]));
      card.appendChild(d);
    }
    return card;
  }

  function show(si) {
    var s = samples[si];
    var close = el("button", null, "close");
    close.type = "button";
    close.id = "explorer-close";
    close.addEventListener("click", function () { detail.hidden = true; detail.replaceChildren(); });
    var headRow = add(el("div", "ex-head"), el("h3", null, D.datasets[s.d] + " · " + s.id), close);
    var facts = [];
    if (s.group !== null && s.group !== undefined) facts.push("group: " + s.group);
    if (D.models.length > 1) facts.push(s.disagree ? "the models disagree" : "the models agree");
    var parts = [headRow, el("p", "note", facts.join(" · ")), el("h4", null, "Prompt")];
    if (s.prompt) {
      s.prompt.forEach(function (m) {
        var msg = el("div", "ex-msg");
        add(msg, el("span", "ex-role", m[0]), block(m[1], "ex-prompt"));
        parts.push(msg);
      });
    } else {
      parts.push(el("p", "note", "no prompt recorded for this sample (see prompts.parquet)"));
    }
    parts.push(el("h4", null, "Target"));
    parts.push(s.target === null ? el("p", "note", "none (an outputs-only dataset, or no target)") : block(s.target));
    var grid = el("div", "ex-answers");
    grid.id = "explorer-answers";
    var order = bySample[si].slice().sort(function (a, b) {
      return rows[a][F.model] - rows[b][F.model] || rows[a][F.epoch] - rows[b][F.epoch];
    });
    order.forEach(function (i) { grid.appendChild(answerNode(i)); });
    parts.push(el("h4", null, "Answers"), grid);
    detail.replaceChildren.apply(detail, parts);
    detail.hidden = false;
    detail.scrollIntoView({ block: "start" });
  }

  // -- wiring -------------------------------------------------------------------------------
  function onSelect(sel, key) {
    sel.addEventListener("change", function () { state[key] = Number(sel.value); apply(); });
  }
  onSelect(dsSel[1], "dataset");
  onSelect(mSel[1], "model");
  onSelect(cSel[1], "cls");
  onSelect(fSel[1], "finish");
  onSelect(eSel[1], "error");
  dis.addEventListener("change", function () { state.disagree = dis.checked; apply(); });
  q.addEventListener("input", function () { state.q = q.value; apply(); });
  prev.addEventListener("click", function () { state.page -= 1; draw(); });
  next.addEventListener("click", function () { state.page += 1; draw(); });

  var note = document.getElementById("explorer-note");
  if (note) {
    note.textContent = D.capped
      ? "This page embeds " + int(D.rows_embedded) + " of the run's " + int(D.rows_total) +
        " answers (" + int(D.samples_embedded) + " samples): " +
        "a stratified sample, each dataset with an equal share of " + int(D.cap) +
        " rows (a smaller dataset whole), each sample with every model's answer. " +
        "Every answer is in results.parquet and every prompt in prompts.parquet."
      : "Every answer of the run: " + int(D.rows_embedded) + " answers to " +
        int(D.samples_embedded) + " samples (also in results.parquet, prompts in prompts.parquet).";
    note.textContent += " Texts longer than " + int(D.text_chars) + " characters are cut here. " +
      "'wrong' includes answers that ended in an error (as in accuracy); 'not scored' rows are " +
      "left out of accuracy (outputs-only datasets, answers the judge did not grade, errors still to retry).";
  }
  apply();
  root.setAttribute("data-ready", "1");
})();

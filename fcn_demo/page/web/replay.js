// Training replay, run entirely in the browser (the body of a gr.HTML js_on_load).
// `element` is the component's root, `props.replay` the payload from fcn_demo.page.viz.replay_payload:
// per-model histories, the sprite of per-epoch predictions and the validation images as data URIs;
// `props.words` the replay's phrases in every language (fcn_demo.page.replay.words), of which it
// speaks the browser's, as the server's translation pass does (navigator.language: zh-*, ru-*, else
// English). Playing, scrubbing and switching images never talk to the server.
(() => {
  const data = props.replay;
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  let W = {};
  // A phrase with its {placeholders} filled; `html`: escaped, the values put in as they are given.
  const say = (key, values = {}, html = false) =>
    (html ? esc(W[key] ?? key) : W[key] ?? key).replace(/\{(\w+)\}/g, (m, k) => (k in values ? String(values[k]) : m));
  const models = data && data.models ? data.models : [];
  const maxEpoch = models.length ? Math.max(...models.map((m) => m.epochs[m.epochs.length - 1].epoch)) : 0;
  // A shared link (?epoch=N) opens the replay at that epoch.
  const linked = Number(new URLSearchParams(window.location.search).get("epoch"));
  const state = { epoch: Number.isInteger(linked) ? Math.max(0, Math.min(linked, maxEpoch)) : 0, image: 0, timer: null };

  const build = () => {
    const tag = (navigator.language || "").toLowerCase();
    const all = props.words || {};
    W = all[tag.startsWith("zh") ? "zh-CN" : tag.startsWith("ru") ? "ru" : "en"] || all.en || {};
    clearInterval(state.timer);
    state.timer = null;
    const root = element.querySelector(".replay") || element;
    if (!models.length) {
      root.innerHTML = `<p class="replay-empty">${say("empty", {}, true)}</p>`;
      return;
    }
    const NS = "http://www.w3.org/2000/svg";
    const fmt = (v, d = 3) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
    const rowAt = (m, e) => m.epochs[Math.min(e, m.epochs.length - 1)];

    const thumbs = [0, 1, 2, 3]
      .map(
        (i) => `<button class="replay-thumb${i === state.image ? " selected" : ""}" data-i="${i}" title="${say("thumb", { n: i + 1 }, true)}"
          style="background-image:url(${data.strips[models[0].strip]});background-position:${-i * 48}px 0;background-size:${4 * 48}px 48px"></button>`
      )
      .join("");
    root.innerHTML = `
      <div class="replay-bar">
        <button class="replay-play" type="button" aria-label="${say("play_label", {}, true)}">${say("play", {}, true)}</button>
        <input class="replay-slider" type="range" min="0" max="${maxEpoch}" step="1" value="0" aria-label="${say("epoch", {}, true)}">
        <span class="replay-epoch" aria-live="polite"></span>
        <span class="replay-thumbs" title="${say("thumbs", {}, true)}">${thumbs}</span>
      </div>
      <div class="replay-charts">
        <figure><figcaption>${say("loss", {}, true)} <span class="muted">${say("loss_note", {}, true)}</span></figcaption><svg class="chart-loss" viewBox="0 0 420 210"></svg></figure>
        <figure><figcaption>${say("miou", {}, true)}</figcaption><svg class="chart-miou" viewBox="0 0 420 210"></svg></figure>
      </div>
      <div class="replay-legend">${models
        .map((m) => `<span><i style="background:${m.color}"></i>${esc(m.title)}</span>`)
        .join("")}</div>
      <div class="replay-cards">
        <div class="replay-card replay-gt">
          <div class="replay-card-title">${say("truth", {}, true)}</div>
          <div class="replay-tile"><div class="tile-img"></div><div class="tile-mask gt"></div></div>
          <div class="replay-card-stats">${say("truth_note", {}, true)}</div>
        </div>
        ${models
          .map(
            (m, k) => `<div class="replay-card" data-k="${k}">
          <div class="replay-card-title"><i style="background:${m.color}"></i>${esc(m.title)}</div>
          <div class="replay-tile"><div class="tile-img"></div><div class="tile-mask pred"></div></div>
          <div class="replay-card-stats"></div>
        </div>`
          )
          .join("")}
      </div>`;

    const SIZE = 150;
    const setTile = (el, uri, col, row) => {
      el.style.backgroundImage = `url(${uri})`;
      el.style.backgroundSize = `${4 * SIZE}px auto`;
      el.style.backgroundPosition = `${-col * SIZE}px ${-row * SIZE}px`;
    };

    // Chart geometry: a plot area inside a 420x210 viewBox. The text is sized by the chart's shown
    // width, so that it is at least 11 px on the screen (a phone shows the chart ~300 px wide);
    // the svg says that size in its own units (data-text-px), and the margins grow with it.
    const shown = root.querySelector(".chart-loss").getBoundingClientRect().width || 420;
    const fs = Math.max(10, Math.ceil((11.5 * 420) / shown));
    const box = { l: Math.max(40, 3.3 * fs), r: 10, t: 10, b: Math.max(28, 2.7 * fs), w: 420, h: 210 };
    root.querySelectorAll(".replay-charts svg").forEach((svg) => svg.setAttribute("data-text-px", fs));
    state.fs = fs;
    const X = (e) => box.l + (e / Math.max(1, maxEpoch)) * (box.w - box.l - box.r);
    const mk = (tag, attrs, parent) => {
      const el = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
      if (tag === "text") el.style.fontSize = `${fs}px`;
      if (parent) parent.appendChild(el);
      return el;
    };
    const axes = (svg, ymax, ticks, label) => {
      const Y = (v) => box.h - box.b - (v / ymax) * (box.h - box.t - box.b);
      for (const v of ticks) {
        mk("line", { x1: box.l, x2: box.w - box.r, y1: Y(v), y2: Y(v), class: "grid" }, svg);
        mk("text", { x: box.l - 5, y: Y(v) + 0.35 * fs, class: "tick", "text-anchor": "end" }, svg).textContent = label === "miou" ? v.toFixed(1) : String(Number(v.toPrecision(3)));
      }
      const step = Math.max(1, Math.ceil(maxEpoch / 8));
      for (let e = 0; e <= maxEpoch; e += step) {
        mk("text", { x: X(e), y: box.h - box.b + 1.3 * fs, class: "tick", "text-anchor": "middle" }, svg).textContent = e;
      }
      mk("text", { x: (box.l + box.w) / 2, y: box.h - 2, class: "axis-label", "text-anchor": "middle" }, svg).textContent = say("epoch");
      return Y;
    };
    const series = (m, key) => m.epochs.filter((r) => r[key] !== null && r[key] !== undefined).map((r) => [r.epoch, r[key]]);
    const top = box.t;
    const path = (pts, Y) => pts.map(([e, v], i) => `${i ? "L" : "M"}${X(e).toFixed(1)},${Math.max(top, Y(v)).toFixed(1)}`).join("");

    // The loss axis fits the curves from epoch 1 on: a fresh head's epoch-0 loss can be several
    // times larger and would flatten everything else, so it is clipped at the top of the chart.
    // The top is rounded up to a "nice" step so the ticks read 0, 0.2, 0.4 ... rather than 0.32, 0.63.
    const lossValues = (from) => models.flatMap((m) => [...series(m, "train_loss"), ...series(m, "val_loss")].filter((p) => p[0] >= from).map((p) => p[1]));
    const rawMax = Math.max(...(maxEpoch > 0 ? lossValues(1) : lossValues(0)), 0.1) * 1.1;
    const mag = 10 ** Math.floor(Math.log10(rawMax / 4));
    const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s * 4 >= rawMax) || mag * 10;
    const lossMax = step * Math.ceil(rawMax / step);
    const lossTicks = Array.from({ length: Math.round(lossMax / step) + 1 }, (_, i) => i * step);
    const svgLoss = root.querySelector(".chart-loss");
    const svgMiou = root.querySelector(".chart-miou");
    const Yl = axes(svgLoss, lossMax, lossTicks, "loss");
    const Ym = axes(svgMiou, 1, [0, 0.2, 0.4, 0.6, 0.8, 1.0], "miou");
    const lines = models.map((m) => {
      const out = {};
      for (const [svg, key, Y, dash] of [
        [svgLoss, "train_loss", Yl, ""],
        [svgLoss, "val_loss", Yl, "5 4"],
        [svgMiou, "val_miou", Ym, ""],
      ]) {
        const pts = series(m, key);
        mk("path", { d: path(pts, Y), stroke: m.color, "stroke-dasharray": dash, class: "ghost" }, svg);
        out[key] = { pts, Y, el: mk("path", { stroke: m.color, "stroke-dasharray": dash, class: "live" }, svg) };
      }
      out.dot = mk("circle", { r: 4, fill: m.color, class: "dot" }, svgMiou);
      return out;
    });
    const cursors = [svgLoss, svgMiou].map((svg) => mk("line", { y1: box.t, y2: box.h - box.b, class: "cursor" }, svg));

    const render = () => {
      const e = state.epoch;
      root.querySelector(".replay-epoch").textContent = say("epoch_of", { epoch: e, last: maxEpoch });
      root.querySelector(".replay-slider").value = e;
      for (const c of cursors) c.setAttribute("x1", X(e)), c.setAttribute("x2", X(e));
      models.forEach((m, k) => {
        for (const key of ["train_loss", "val_loss", "val_miou"]) {
          const s = lines[k][key];
          s.el.setAttribute("d", path(s.pts.filter((p) => p[0] <= e), s.Y));
        }
        const row = rowAt(m, e);
        lines[k].dot.setAttribute("cx", X(row.epoch));
        lines[k].dot.setAttribute("cy", Ym(row.val_miou ?? 0));
        const card = root.querySelector(`.replay-card[data-k="${k}"]`);
        setTile(card.querySelector(".tile-img"), data.strips[m.strip], state.image, 0);
        setTile(card.querySelector(".tile-mask"), m.masks, state.image, 1 + row.epoch);
        const last = m.epochs[m.epochs.length - 1].epoch;
        // Rows of a model trained in rounds carry their round and their epoch within it.
        const after = row.round
          ? say("in_round", { round: row.round, epoch: row.round_epoch }, true)
          : say("after", { epoch: row.epoch }, true);
        const what = row.epoch === 0 ? say(m.parent ? "start_parent" : "before", {}, true) : after;
        const done = e > last ? ` · ${say("finished", { epoch: last }, true)}` : "";
        const best = row.epoch === m.best_epoch ? ` <b title="${say("saved_title", {}, true)}">${say("saved", {}, true)}</b>` : "";
        const stats = say("stats", { miou: `<b>${fmt(row.val_miou)}</b>`, loss: fmt(row.val_loss) }, true);
        card.querySelector(".replay-card-stats").innerHTML = `${what}${done}${best}<br>${stats}`;
      });
      const gt = root.querySelector(".replay-gt");
      setTile(gt.querySelector(".tile-img"), data.strips[models[0].strip], state.image, 0);
      setTile(gt.querySelector(".tile-mask"), models[0].masks, state.image, 0);
    };

    const play = root.querySelector(".replay-play");
    const stop = () => {
      clearInterval(state.timer);
      state.timer = null;
      play.textContent = say("play");
      play.setAttribute("aria-label", say("play_label"));
    };
    play.addEventListener("click", () => {
      if (state.timer) return stop();
      if (state.epoch >= maxEpoch) state.epoch = 0;
      play.textContent = say("pause");
      play.setAttribute("aria-label", say("pause_label"));
      render();
      state.timer = setInterval(() => {
        if (state.epoch >= maxEpoch) return stop();
        state.epoch += 1;
        render();
      }, 650);
    });
    root.querySelector(".replay-slider").addEventListener("input", (ev) => {
      stop();
      state.epoch = Number(ev.target.value);
      render();
    });
    root.querySelectorAll(".replay-thumb").forEach((b) =>
      b.addEventListener("click", () => {
        state.image = Number(b.dataset.i);
        root.querySelectorAll(".replay-thumb").forEach((x) => x.classList.toggle("selected", x === b));
        render();
      })
    );
    render();
  };
  build();
  // A turned phone or a resized window: redrawn when the text would need another size.
  if (models.length && window.ResizeObserver) {
    new ResizeObserver(() => {
      const chart = element.querySelector(".replay-charts svg");
      const w = chart ? chart.getBoundingClientRect().width : 0;
      if (w > 0 && Math.max(10, Math.ceil((11.5 * 420) / w)) !== state.fs) build();
    }).observe(element);
  }
})();

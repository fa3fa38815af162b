// Linked views (fcn_demo/page/linked.py): a pixel chosen on one picture of the image is marked on
// every picture of it at once, here in the browser; choosing it also asks the server's probe.
(() => {
  const WORDS = __WORDS__;
  const tag = (navigator.language || "en").toLowerCase();
  const words = WORDS[tag.startsWith("zh") ? "zh-CN" : tag.startsWith("ru") ? "ru" : "en"];
  // The pictures of the image: the Compare cards (models, ground truth, disagreement), the skip maps
  // (each map a tile of the row's picture: data-tiles) and the Ask-a-pixel photo.
  const PICTURES = "#panels img.panel-img, #maps-out img.heatmap-img, #probe-photo img";
  const STEP = 1 / 32, BIG = 1 / 8; // arrow keys: a small step, and with Shift a big one
  const hover = window.matchMedia("(hover: hover)");
  let chosen = null; // {fx, fy, image}: fractions of the picture, and which image they belong to
  let asked = 0, lastAsked = "", rest = null, drawing = false;

  const image = () => document.querySelector("#status .status")?.dataset.image || "";
  const precomputed = () => document.querySelector("#status .status")?.dataset.probes === "grid";
  const say = (key, x, y) => words[key].replace("{x}", x).replace("{y}", y);

  function tiles(img) {
    // Each tile [x, y, w, h] as fractions of the picture; a photo is one tile, the whole of it.
    if (!img.dataset.tiles) return [[0, 0, 1, 1]];
    return img.dataset.tiles.split(";").map((t) => t.split(",").map(Number));
  }

  function content(img) {
    // The drawn picture's box inside the <img> element (object-fit: contain leaves bands around it).
    const r = img.getBoundingClientRect(), nw = img.naturalWidth || r.width, nh = img.naturalHeight || r.height;
    if (getComputedStyle(img).objectFit !== "contain" || !nw || !nh) return r;
    const s = Math.min(r.width / nw, r.height / nh), w = nw * s, h = nh * s;
    return { left: r.left + (r.width - w) / 2, top: r.top + (r.height - h) / 2, width: w, height: h };
  }

  function pixelOf(fx, fy) {
    // The display pixel, as the server counts it (the Compare pictures are the display size).
    const img = document.querySelector("#panels img.panel-img, #probe-photo img");
    const w = img?.naturalWidth || 100, h = img?.naturalHeight || 100;
    return [Math.min(w - 1, Math.floor(fx * w)), Math.min(h - 1, Math.floor(fy * h))];
  }

  function draw() {
    drawing = true;
    document.querySelectorAll(".pick-mark").forEach((m) => m.remove());
    if (chosen && chosen.image === image()) {
      for (const img of document.querySelectorAll(PICTURES)) {
        const host = img.parentElement;
        if (!img.complete || !img.naturalWidth || !host) continue;
        host.classList.add("pick-host");
        const c = content(img), h = host.getBoundingClientRect();
        for (const [tx, ty, tw, th] of tiles(img)) {
          const m = document.createElement("span");
          m.className = "pick-mark";
          m.setAttribute("aria-hidden", "true");
          Object.assign(m.style, {
            left: `${c.left - h.left + host.scrollLeft + tx * c.width}px`, top: `${c.top - h.top + ty * c.height}px`,
            width: `${tw * c.width}px`, height: `${th * c.height}px`,
          });
          m.style.setProperty("--fx", `${chosen.fx * 100}%`);
          m.style.setProperty("--fy", `${chosen.fy * 100}%`);
          m.innerHTML = "<i class='pick-h'></i><i class='pick-v'></i><i class='pick-dot'></i>";
          host.appendChild(m);
        }
      }
    }
    requestAnimationFrame(() => (drawing = false));
  }

  function live(message) {
    const region = document.getElementById("pick-live");
    if (region) region.textContent = message;
  }

  function ask() {
    // The hidden button's event sends the chosen pixel (window.fcnChosen) and asks the probe.
    const go = document.getElementById("probe-go");
    const at = chosen && `${chosen.fx.toFixed(5)},${chosen.fy.toFixed(5)}`;
    if (!go || !chosen || `${at},${chosen.image}` === lastAsked) return; // a hover resting where a click asked
    lastAsked = `${at},${chosen.image}`;
    window.fcnChosen = `${at},${++asked}`;
    go.click();
  }

  function where(img, event) {
    // The fractions (fx, fy) of the image under the pointer, in whichever tile it is; null outside.
    const c = content(img);
    const px = (event.clientX - c.left) / c.width, py = (event.clientY - c.top) / c.height;
    for (const [tx, ty, tw, th] of tiles(img)) {
      const fx = (px - tx) / tw, fy = (py - ty) / th;
      if (fx >= 0 && fx < 1 && fy >= 0 && fy < 1) return [fx, fy];
    }
    return null;
  }

  function choose(fx, fy) {
    chosen = { fx: Math.min(Math.max(fx, 0), 0.99999), fy: Math.min(Math.max(fy, 0), 0.99999), image: image() };
    draw();
  }

  // The Ask-a-pixel photo is focused through the button Gradio wraps it in; the others are the <img>s.
  const picture = (target) =>
    target instanceof Element ? (target.matches("#probe-photo button") ? target.querySelector("img") : target.closest("img")) : null;
  const linked = (img) => img && img.matches(PICTURES);

  document.addEventListener("click", (event) => {
    const img = picture(event.target);
    if (!linked(img)) return;
    const at = where(img, event);
    if (!at) return;
    choose(...at);
    // On the Ask-a-pixel photo a click is Gradio's own select event, which asks the probe already.
    if (img.closest("#probe-photo")) lastAsked = `${chosen.fx.toFixed(5)},${chosen.fy.toFixed(5)},${chosen.image}`;
    else ask();
    live(say("asked", ...pixelOf(chosen.fx, chosen.fy)));
  }, true);

  document.addEventListener("pointermove", (event) => {
    if (event.pointerType !== "mouse" || !hover.matches) return;
    const img = picture(event.target);
    if (!linked(img)) return;
    const at = where(img, event);
    if (!at) return;
    choose(...at);
    clearTimeout(rest);
    // A hover that rests asks too, where the answer is precomputed (a live probe takes seconds of model time).
    if (precomputed()) rest = setTimeout(ask, 350);
  });

  document.addEventListener("keydown", (event) => {
    const img = picture(event.target);
    if (!linked(img) || (event.target !== img && !event.target.matches("#probe-photo button"))) return;
    const step = event.shiftKey ? BIG : STEP;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (event.key in moves) {
      const [dx, dy] = moves[event.key];
      const from = chosen && chosen.image === image() ? chosen : { fx: 0.5 - dx, fy: 0.5 - dy };
      choose(from.fx + dx, from.fy + dy);
      live(say("marked", ...pixelOf(chosen.fx, chosen.fy)));
    } else if (event.key === "Enter" || event.key === " ") {
      if (!chosen || chosen.image !== image()) choose(0.5, 0.5);
      lastAsked = "";
      ask();
      live(say("asked", ...pixelOf(chosen.fx, chosen.fy)));
    } else {
      return;
    }
    event.preventDefault();
  });

  function prepare() {
    // Every picture of the image can be focused and says how; the hint and the live region exist once.
    if (!document.getElementById("pick-hint")) {
      const hint = document.createElement("div");
      hint.id = "pick-hint";
      hint.hidden = true;
      hint.textContent = words.hint;
      const region = document.createElement("div");
      region.id = "pick-live";
      region.className = "pick-live";
      region.setAttribute("aria-live", "polite");
      document.body.append(hint, region);
    }
    for (const img of document.querySelectorAll(PICTURES)) {
      if (img.dataset.picked) continue;
      img.dataset.picked = "1";
      const button = img.closest("#probe-photo button"); // Gradio's own focusable wrapper
      if (!button) img.tabIndex = 0;
      (button || img).setAttribute("aria-describedby", "pick-hint");
      img.addEventListener("load", draw);
    }
  }

  // The server redraws the pictures (a new image, another setting): mark the new ones too.
  let queued = false;
  new MutationObserver((records) => {
    if (drawing || queued) return;
    const ours = records.every((r) => [...r.addedNodes, ...r.removedNodes].every((n) => n.classList?.contains("pick-mark")));
    if (ours) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; prepare(); draw(); });
  }).observe(document.documentElement, { childList: true, subtree: true });
  window.addEventListener("resize", () => requestAnimationFrame(draw));
})();

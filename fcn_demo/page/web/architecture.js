// The drawn architecture (fcn_demo/page/architecture.py) as a map of the page: a block with
// data-opens opens the view it matches, by a click or by Enter/Space. Navigation only, in the page:
//   maps      this model's tile of that map on the Skip-layer maps tab, scrolled to and marked;
//   ablation  that skip's switch on the Ablation tab, focused and marked;
//   whatif    the transposed-convolution what-if on the Lessons tab, its kernel slider focused.
(() => {
  const openTab = (id) => {
    // the tab bar's button (hidden on a phone, where the tab list follows it)
    const button = document.querySelector(`#tabs button[data-tab-id="${id}"]`);
    if (button && button.getAttribute("aria-selected") !== "true") button.click();
  };
  // Calls then(el) once the selector matches a shown element (its tab may still be opening), or
  // otherwise() after about two seconds.
  const whenShown = (selector, then, otherwise, tries = 40) => {
    const el = document.querySelector(selector);
    if (el && el.getClientRects().length) return then(el);
    if (tries) setTimeout(() => whenShown(selector, then, otherwise, tries - 1), 50);
    else if (otherwise) otherwise();
  };
  const spotlight = (el, focus) => {
    for (const old of document.querySelectorAll(".spotlight")) old.classList.remove("spotlight");
    el.scrollIntoView({ block: "center", behavior: "smooth" });
    el.classList.add("spotlight");
    if (focus) focus.focus({ preventScroll: true });
  };
  const open = (block) => {
    const { opens, map, skip } = block.dataset;
    const model = CSS.escape(block.closest("figure[data-model]")?.dataset.model || "");
    if (opens === "maps") {
      openTab("maps");
      // before an image there are no maps: the maps' place then
      whenShown(`#maps-out [data-model="${model}"] [data-map="${CSS.escape(map)}"]`, (tile) => spotlight(tile),
                () => whenShown("#maps-out", (out) => out.scrollIntoView({ behavior: "smooth" })));
    } else if (opens === "ablation") {
      openTab("ablation");
      whenShown(`#skip-${model}-${CSS.escape(skip)}`, (sw) => spotlight(sw, sw.querySelector("input")));
    } else if (opens === "whatif") {
      openTab("lessons");
      whenShown("#whatif-kernel", (k) => spotlight(k, k.querySelector("input[type=range]")));
    }
  };
  const blockOf = (event) => event.target.closest?.(".arch-block[data-opens]");
  document.addEventListener("click", (event) => {
    const block = blockOf(event);
    if (block) open(block);
  });
  document.addEventListener("keydown", (event) => {
    const block = (event.key === "Enter" || event.key === " ") && blockOf(event);
    if (!block) return;
    event.preventDefault(); // Space would scroll the page
    open(block);
  });
})();

// Build a link that restores this view: sample, tab, opacity, view, class, skip switches, replay epoch,
// the lesson's step and the what-if's kernel and stride.
// The settings come in as the components' values (in the order app.py passes them); the sample, the
// open tab and the replay's epoch are read from the page. Uploads cannot travel in a link.
(opacity, show, cls, maps, ...switches) => {
  const q = new URLSearchParams();
  const status = document.querySelector("#status [data-sample]");
  if (status && status.dataset.sample) q.set("sample", status.dataset.sample);
  const tab = document.querySelector('#tabs [role="tab"][aria-selected="true"]');
  if (tab && tab.dataset.tabId) q.set("tab", tab.dataset.tabId);
  q.set("opacity", opacity);
  q.set("show", show);
  q.set("class", __CLASSES__[cls] ?? cls);
  q.set("maps", maps);
  const names = __SWITCHES__;
  const off = names.filter((_, i) => !switches[i]);
  if (off.length) q.set("off", off.join(","));
  // The guided lesson's open step (its id) and the transposed-convolution what-if's sliders, each
  // only when it is not where a page starts (the first step, the sliders' first values).
  const step = document.querySelector('#lesson [role="tab"][aria-selected="true"]');
  const steps = __STEPS__;
  const at = step ? Number(step.dataset.tabId) : 0;
  if (at > 0 && steps[at]) q.set("step", steps[at]);
  const first = __WHATIF__;
  for (const name of ["kernel", "stride"]) {
    const box = document.querySelector(`#whatif-${name} input[type=number]`);
    if (box && box.value && Number(box.value) !== first[name]) q.set(name, box.value);
  }
  const slider = document.querySelector(".replay-slider");
  const epoch = slider ? slider.value : new URLSearchParams(location.search).get("epoch");
  if (epoch && Number(epoch) > 0) q.set("epoch", epoch);
  const url = `${location.origin}${location.pathname}?${q}`;
  if (navigator.clipboard) navigator.clipboard.writeText(url).catch(() => {});
  return url;
}

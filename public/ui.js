// Conveyor's page chrome, in plain JS so it works before (and without) the WASM:
// the colour theme (system, dark or light, remembered), keyboard shortcuts with a `?`
// overlay, recent image tags for the run form, and relative times kept fresh.
(function () {
  'use strict';
  var root = document.documentElement;
  var THEMES = ['system', 'dark', 'light'];

  function storage(key, value) {
    try {
      if (value === undefined) return window.localStorage.getItem(key);
      if (value === null) window.localStorage.removeItem(key);
      else window.localStorage.setItem(key, value);
    } catch (e) { /* private mode: nothing is remembered */ }
    return null;
  }

  // ---- theme ----
  function currentTheme() { return root.dataset.theme || 'system'; }
  function applyTheme(theme) {
    if (theme === 'system') { delete root.dataset.theme; storage('conveyor-theme', null); }
    else { root.dataset.theme = theme; storage('conveyor-theme', theme); }
    var button = document.getElementById('theme-toggle');
    if (button) {
      button.setAttribute('aria-label', 'Colour theme: ' + theme + ' (t to switch)');
      button.dataset.theme = theme;
      button.textContent = theme === 'dark' ? '☾' : theme === 'light' ? '☀' : '◐';
    }
  }
  function nextTheme() {
    applyTheme(THEMES[(THEMES.indexOf(currentTheme()) + 1) % THEMES.length]);
  }

  // ---- shortcuts overlay ----
  function overlay() { return document.getElementById('shortcuts'); }
  function toggleOverlay(show) {
    var element = overlay();
    if (!element) return;
    var open = show === undefined ? element.hidden : show;
    element.hidden = !open;
    if (open) element.querySelector('button')?.focus();
  }

  // ---- recent tags ----
  function recentTags() {
    try { return JSON.parse(storage('conveyor-recent-tags') || '[]'); } catch (e) { return []; }
  }
  function rememberTag(tag) {
    if (!tag) return;
    var tags = recentTags().filter(function (t) { return t !== tag; });
    tags.unshift(tag);
    storage('conveyor-recent-tags', JSON.stringify(tags.slice(0, 10)));
  }
  function fillRecentTags() {
    var list = document.getElementById('recent-tags');
    if (!list || list.dataset.filled) return;
    list.dataset.filled = 'true';
    recentTags().forEach(function (tag) {
      var option = document.createElement('option');
      option.value = tag;
      list.appendChild(option);
    });
  }

  // ---- relative times ----
  function relative(ms) {
    var seconds = Math.round((Date.now() - ms) / 1000);
    var future = seconds < 0;
    seconds = Math.abs(seconds);
    var text;
    if (seconds < 45) text = 'just now';
    else if (seconds < 90) text = '1 min';
    else if (seconds < 3600) text = Math.round(seconds / 60) + ' min';
    else if (seconds < 86400) text = Math.round(seconds / 3600) + ' h';
    else if (seconds < 86400 * 30) text = Math.round(seconds / 86400) + ' d';
    else return null; // older: the exact date reads better
    if (text === 'just now') return text;
    return future ? 'in ' + text : text + ' ago';
  }
  function refreshTimes() {
    document.querySelectorAll('time[data-ms]').forEach(function (element) {
      var text = relative(Number(element.dataset.ms));
      // Change the text node itself: the element may also hold the framework's hydration
      // markers, which replacing `textContent` would remove.
      var node = element.firstChild;
      if (text && node && node.nodeType === Node.TEXT_NODE && node.data !== text) node.data = text;
    });
  }

  // ---- keys ----
  var pendingG = false;
  function typing(target) {
    var tag = target && target.tagName;
    return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || (target && target.isContentEditable);
  }
  document.addEventListener('keydown', function (event) {
    if (event.key === 'Escape') { toggleOverlay(false); return; }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (pendingG) {
      pendingG = false;
      if (event.key === 'p') { window.location.href = '/'; event.preventDefault(); }
      if (event.key === 'h') { window.location.href = '/history'; event.preventDefault(); }
      if (event.key === 's') { window.location.href = '/search'; event.preventDefault(); }
      return;
    }
    switch (event.key) {
      case '?': toggleOverlay(); event.preventDefault(); break;
      case 't': nextTheme(); event.preventDefault(); break;
      case 'g': pendingG = true; break;
      case 'r': {
        var tag = document.getElementById('tag');
        if (tag) { tag.focus(); tag.select(); event.preventDefault(); }
        break;
      }
      case '/': {
        var filter = document.querySelector('[data-filter]');
        if (filter) { filter.focus(); event.preventDefault(); }
        break;
      }
    }
  });
  document.addEventListener('click', function (event) {
    var target = event.target;
    if (target.closest && target.closest('#theme-toggle')) nextTheme();
    if (target.closest && target.closest('#shortcuts-open')) toggleOverlay(true);
    if (target.closest && target.closest('#shortcuts-close')) toggleOverlay(false);
    if (target.id === 'shortcuts') toggleOverlay(false);
  });
  document.addEventListener('submit', function (event) {
    var tag = event.target.querySelector && event.target.querySelector('#tag');
    if (tag) rememberTag(tag.value.trim());
  }, true);

  function start() {
    applyTheme(currentTheme());
    fillRecentTags();
    refreshTimes();
    // Pages change under the app's router: keep up with new elements.
    new MutationObserver(function () { fillRecentTags(); refreshTimes(); })
      .observe(document.body, { childList: true, subtree: true });
    setInterval(refreshTimes, 30000);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();

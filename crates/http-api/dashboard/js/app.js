// The dashboard shell: hash routes (#/overview, #/clients, ...), the side menu, login state.

import { h, fill, toast } from './dom.js';
import { session, clearSession, onSessionExpired, post } from './api.js';
import { startSampling, stopSampling } from './sampler.js';
import * as login from './pages/login.js';
import * as overview from './pages/overview.js';
import * as clients from './pages/clients.js';
import * as subscriptions from './pages/subscriptions.js';
import * as links from './pages/links.js';
import * as linkForm from './pages/link_form.js';
import * as linkDetail from './pages/link_detail.js';

const NAV = [
  { group: 'Dashboard' },
  { href: '#/overview', label: 'Overview', match: /^\/overview/ },
  { group: 'Monitoring' },
  { href: '#/clients', label: 'Clients', match: /^\/clients/ },
  { href: '#/subscriptions', label: 'Subscriptions', match: /^\/subscriptions/ },
  { group: 'Management' },
  { href: '#/cluster-linking', label: 'Cluster Linking', match: /^\/cluster-linking/ },
];

const ROUTES = [
  [/^\/overview$/, overview.render],
  [/^\/clients$/, clients.renderList],
  [/^\/clients\/(.+)$/, clients.renderDetail],
  [/^\/subscriptions$/, subscriptions.render],
  [/^\/cluster-linking$/, links.render],
  [/^\/cluster-linking\/create$/, linkForm.renderCreate],
  [/^\/cluster-linking\/([^/]+)\/(overview|settings)$/, linkDetail.render],
  [/^\/cluster-linking\/([^/]+)$/, linkDetail.render],
];

const app = document.getElementById('app');
let cleanup = null;
let shell = null;
let loginNotice = '';

function currentPath() {
  const p = decodeURI(location.hash.replace(/^#/, ''));
  return p || '/overview';
}

export function navigate(path) {
  if (location.hash === `#${path}`) route();
  else location.hash = `#${path}`;
}

function buildShell() {
  const s = session();
  const nav = h('nav', { class: 'nav', 'aria-label': 'Main menu', id: 'nav' },
    NAV.map((n) => (n.group
      ? h('div', { class: 'nav-group' }, n.group)
      : h('a', { href: n.href, 'data-nav': n.href.slice(2) }, n.label))));
  const sidebar = h('aside', { class: 'sidebar' },
    h('div', { class: 'sidebar-head' },
      h('div', { class: 'brand' }, h('img', { src: '/assets/favicon.svg', alt: '' }), 'linkmq'),
      h('button', {
        class: 'menu-toggle', type: 'button', 'aria-controls': 'nav', 'aria-expanded': 'false',
        onclick: (e) => {
          const open = sidebar.classList.toggle('open');
          e.currentTarget.setAttribute('aria-expanded', String(open));
        },
      }, 'Menu')),
    nav);
  const title = h('h1', { id: 'page-title' }, '');
  const main = h('main', { class: 'content', id: 'content', tabindex: '-1' });
  const root = h('div', { class: 'shell' },
    sidebar,
    h('div', { class: 'main' },
      h('header', { class: 'topbar' },
        title,
        h('div', { class: 'user' },
          h('span', { class: 'who', id: 'current-user' }, s ? s.username : ''),
          h('button', { type: 'button', id: 'logout', onclick: logout }, 'Log out'))),
      main));
  return { root, main, title, sidebar, nav };
}

async function logout() {
  const s = session();
  if (s) {
    try { await post('/logout', { username: s.username }); } catch { /* token may be gone already */ }
  }
  clearSession();
  stopSampling();
  clearToasts();
  loginNotice = '';
  navigate('/login');
}

function clearToasts() {
  document.getElementById('toasts').replaceChildren();
}

function setTitle(t) {
  if (shell) shell.title.textContent = t;
  document.title = t ? `${t} - linkmq Dashboard` : 'linkmq Dashboard';
}

function route() {
  if (cleanup) { try { cleanup(); } catch { /* page already gone */ } cleanup = null; }
  const path = currentPath();
  if (!session()) {
    shell = null;
    stopSampling();
    if (path !== '/login') { location.replace('#/login'); return; }
    setTitle('Log in');
    fill(app, login.render({
      notice: loginNotice,
      onLogin: () => { loginNotice = ''; navigate('/overview'); },
    }));
    return;
  }
  if (path === '/login') { location.replace('#/overview'); return; }
  if (!shell) {
    shell = buildShell();
    fill(app, shell.root);
    startSampling();
  }
  shell.sidebar.classList.remove('open');
  for (const a of shell.nav.querySelectorAll('a')) {
    const item = NAV.find((n) => n.href === a.getAttribute('href'));
    if (item.match.test(path)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const hit = ROUTES.map(([re, f]) => [path.match(re), f]).find(([m]) => m);
  fill(shell.main);
  if (!hit) {
    setTitle('Not found');
    shell.main.append(h('div', { class: 'panel' }, 'No such page. ', h('a', { href: '#/overview' }, 'Go to the overview')));
    return;
  }
  const [m, render] = hit;
  const ctx = { main: shell.main, setTitle, navigate, params: m.slice(1).map((p) => p && decodeURIComponent(p)) };
  try {
    cleanup = render(ctx) || null;
  } catch (e) {
    toast(e.message, 'error');
  }
}

onSessionExpired((code) => {
  loginNotice = code === 'TOKEN_TIME_OUT'
    ? 'Your session has expired. Please log in again.'
    : 'Your session is no longer valid. Please log in again.';
  stopSampling();
  clearToasts();
  shell = null;
  navigate('/login');
});

window.addEventListener('hashchange', route);
route();

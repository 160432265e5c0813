// Login: POST /api/v5/login, keep the bearer token.

import { h } from '../dom.js';
import { post, setSession } from '../api.js';

export function render({ notice, onLogin }) {
  const error = h('p', { class: 'field-error', id: 'login-error', role: 'alert' });
  const user = h('input', { id: 'login-username', name: 'username', autocomplete: 'username', required: true, value: 'admin' });
  const pass = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { class: 'primary', type: 'submit', id: 'login-submit' }, 'Log in');
  const form = h('form', {
    class: 'login-box',
    'aria-labelledby': 'login-title',
    onsubmit: async (e) => {
      e.preventDefault();
      error.textContent = '';
      submit.disabled = true;
      try {
        const r = await post('/login', { username: user.value, password: pass.value });
        setSession({ token: r.token, username: user.value, version: r.version, role: r.role });
        onLogin();
      } catch (err) {
        error.textContent = err.code === 'BAD_USERNAME_OR_PWD' || err.status === 401
          ? 'Wrong username or password.'
          : err.message;
        pass.select();
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('div', { class: 'brand' }, h('img', { src: '/assets/favicon.svg', alt: '' }), h('span', { id: 'login-title' }, 'linkmq Dashboard')),
  notice ? h('div', { class: 'notice', id: 'login-notice', role: 'status' }, notice) : null,
  h('label', { for: 'login-username' }, 'Username'), user,
  h('label', { for: 'login-password' }, 'Password'), pass,
  error,
  submit);
  setTimeout(() => (user.value ? pass : user).focus(), 0);
  return h('div', { class: 'login-page' }, form);
}

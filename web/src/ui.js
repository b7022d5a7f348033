// Small DOM helpers: element builder, avatars with initials, toasts.

/** `h('div.tile', { dataset: { user: '1' } }, child, 'text')`. */
export function h(tag, props = {}, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key in el) el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Up to two initials of `name` ("Team Huddle" → "TH", "alice" → "A"). */
export function initials(name) {
  const words = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const letters = words.slice(0, 2).map((w) => [...w][0]);
  return (letters.join('') || '?').toUpperCase();
}

/** A stable hue for `key`, so that each user keeps one colour. */
function hue(key) {
  let n = 0;
  for (const c of String(key)) n = (n * 31 + c.codePointAt(0)) % 1_000_003;
  return Math.round((n * 137.508) % 360); // golden angle: neighbouring ids get distant hues
}

/** An avatar: the picture when there is one (initials if it fails to load), else initials. */
export function avatar(info, size = 'md') {
  const name = info?.name || '?';
  const el = h(`div.avatar.${size}`, { title: name });
  el.style.setProperty('--hue', hue(info?.id ?? info?.userId ?? name));
  const showInitials = () => {
    el.replaceChildren(h('span', {}, initials(name)));
    el.classList.add('initials');
  };
  if (info?.avatar) {
    el.append(h('img', { src: info.avatar, alt: '', onerror: showInitials }));
  } else {
    showInitials();
  }
  return el;
}

/** A message at the bottom right for a few seconds. */
export function toast(message, kind = 'info') {
  const el = h(`div.toast.${kind}`, {}, message);
  document.getElementById('toasts').append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 8000 : 4000);
}

export const $ = (id) => document.getElementById(id);

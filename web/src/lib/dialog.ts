import { h } from './dom.js';

/**
 * A modal confirmation (native `<dialog>`: focus is trapped and Escape cancels). Resolves true when
 * the person chose `confirmLabel`.
 */
export function confirmDialog(opts: { title: string; message: string; confirmLabel: string; danger?: boolean }): Promise<boolean> {
  return new Promise((resolve) => {
    const confirm = h('button', { type: 'button', class: opts.danger ? 'danger' : 'primary', 'data-action': 'confirm' }, opts.confirmLabel);
    const cancel = h('button', { type: 'button', 'data-action': 'cancel' }, 'Cancel');
    const title = h('h2', { id: 'dialog-title' }, opts.title);
    const dialog = h(
      'dialog',
      { class: 'dialog', 'aria-labelledby': 'dialog-title', 'aria-describedby': 'dialog-message' },
      title,
      h('p', { id: 'dialog-message' }, opts.message),
      h('div', { class: 'actions' }, cancel, confirm),
    );
    let answer = false;
    confirm.addEventListener('click', () => {
      answer = true;
      dialog.close();
    });
    cancel.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/**
 * Three pages (landing, student, invigilator), each its own HTML entry; hashed assets under
 * `dist/assets/` (served `immutable` by server/http/web-routes.ts). No inline scripts or styles, so
 * the pages live under a strict Content-Security-Policy.
 */
export default defineConfig({
  root: here('.'),
  publicDir: false,
  logLevel: 'warn',
  build: {
    outDir: here('./dist'),
    emptyOutDir: true,
    target: 'es2022',
    // No modulepreload polyfill: it would be an inline script, which the CSP forbids (all targets have it natively).
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: false,
    rollupOptions: {
      input: {
        index: here('./index.html'),
        student: here('./student.html'),
        invigilator: here('./invigilator.html'),
      },
    },
  },
});

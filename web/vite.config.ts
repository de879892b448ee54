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
      output: {
        // Named shared chunks, so the bundle report says what weighs what.
        manualChunks(id) {
          if (/node_modules\/(socket\.io-client|socket\.io-parser|engine\.io-client|engine\.io-parser|@socket\.io|debug|ms)\//.test(id)) return 'socket.io';
          if (/node_modules\/typebox\/|server\/(protocol|protocol-names|errors)\.ts$/.test(id)) return 'protocol';
          if (id.includes('/web/src/lib/')) return 'lib';
          return undefined;
        },
      },
    },
  },
});

/**
 * Builds the console into `console/dist`, which `slipway server` serves at `/`.
 * `npm run build` runs `vite build console`. For development, `npx vite console` serves the console with
 * hot reload and forwards `/api` to the server at SLIPWAY_URL (default http://127.0.0.1:7400).
 */
import react from '@vitejs/plugin-react';
import { defineConfig, loadEnv } from 'vite';

const DEFAULT_API_URL = 'http://127.0.0.1:7400';

export default defineConfig(({ mode }) => {
  const env = loadEnv(mode, '.', 'SLIPWAY_');
  return {
    plugins: [react()],
    build: {
      outDir: 'dist',
      emptyOutDir: true,
      // The server's CSP allows scripts and images from 'self' only: keep every asset a file.
      assetsInlineLimit: 0,
      sourcemap: true,
    },
    server: {
      proxy: { '/api': env.SLIPWAY_URL ?? DEFAULT_API_URL },
    },
  };
});

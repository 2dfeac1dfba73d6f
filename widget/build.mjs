// Builds static/widget.js from src/, with widget.js.gz and widget.js.br beside
// it (the server sends them to browsers that accept them), and prints its size.
//   node build.mjs [--outfile PATH]
// The whole widget must stay within 4,096 bytes gzip -9; the build fails above.
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const BUDGET = 4096;
// The widget's own property names (its words, the script tag's and the
// palette's) are shortened in the bundle. Never list a name that the server
// sends or a browser object has and the widget uses: both sides must agree.
const OWN_PROPS =
  /^(region|close|optional|send|paused|check|retry|review|manual|api|bg|fg)$/;

// Stylesheets are imported as minified text, to be handed to a CSSStyleSheet.
const cssAsText = {
  name: 'css-as-text',
  setup(build) {
    build.onLoad({ filter: /\.css$/ }, async ({ path }) => {
      const source = await readFile(path, 'utf8');
      const { code } = await esbuild.transform(source, { loader: 'css', minify: true });
      return { contents: code.trim(), loader: 'text' };
    });
  },
};

function outfile(argv) {
  const at = argv.indexOf('--outfile');
  return at >= 0 ? argv[at + 1] : join(here, '..', 'static', 'widget.js');
}

async function main() {
  const target = outfile(process.argv);
  const result = await esbuild.build({
    entryPoints: [join(here, 'src', 'main.js')],
    bundle: true,
    minify: true,
    format: 'iife',
    // The card needs constructable stylesheets and `inert`, so every browser
    // that shows it reads ES2020 (`?.`) as it is.
    target: 'es2020',
    charset: 'utf8',
    legalComments: 'none',
    mangleProps: OWN_PROPS,
    plugins: [cssAsText],
    write: false,
  });
  const code = result.outputFiles[0].contents;
  await writeFile(target, code);
  const gzipped = gzipSync(code, { level: 9 });
  const brotli = brotliCompressSync(code, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: code.length,
    },
  });
  await writeFile(`${target}.gz`, gzipped);
  await writeFile(`${target}.br`, brotli);
  console.log(
    `${relative(process.cwd(), target)}: ${code.length} bytes, ${gzipped.length} bytes gzip -9` +
      ` (budget ${BUDGET}), ${brotli.length} bytes brotli`,
  );
  if (gzipped.length > BUDGET) {
    console.error(`over budget by ${gzipped.length - BUDGET} bytes`);
    process.exitCode = 1;
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});

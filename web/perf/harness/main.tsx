/** A page with only the LogView, against the mock output server of vite.config.mjs here. */
import { render } from 'preact';
import { LogView } from '../../src/features/deploys/log';

const params = new URLSearchParams(location.search);
const id = params.get('id') ?? 'plain-1000';
const live = params.get('live') === '1';
if (params.get('theme')) document.documentElement.dataset.theme = params.get('theme') ?? '';

function Page() {
  return (
    <div style="flex:1;min-height:0;padding:8px;box-sizing:border-box">
      <LogView
        deployId={id}
        live={live}
        onEnd={(deploy) => {
          (window as unknown as { ended: unknown }).ended = deploy;
        }}
      />
    </div>
  );
}

const root = document.getElementById('app');
if (root) render(<Page />, root);

/**
 * deploy/nginx.conf with its upstream `server host:port ...;` lines replaced by one line per
 * `upstreams` entry (with the first line's parameters) and its one `listen` by `listen`: how the
 * deployment test and the load-test runner put the shipped file in front of their own nodes. Throws
 * when the file no longer has that shape, so a change to it cannot leave them running something else.
 */
export function renderSite(template: string, upstreams: string[], listen: string): string {
  const serverLine = /^(\s*)server\s+\S+:\d+([^;]*);\s*$/;
  const listenLine = /^(\s*)listen\s+[^;]+;\s*$/;
  const out: string[] = [];
  let servers = 0;
  let listens = 0;
  for (const line of template.split('\n')) {
    const server = serverLine.exec(line);
    const listening = listenLine.exec(line);
    if (server) {
      if (servers++ === 0) out.push(...upstreams.map((address) => `${server[1]}server ${address}${server[2]};`));
    } else if (listening) {
      listens++;
      out.push(`${listening[1]}listen ${listen};`);
    } else {
      out.push(line);
    }
  }
  if (servers === 0 || listens !== 1) {
    throw new Error(`deploy/nginx.conf: expected upstream server lines and one listen, found ${servers} and ${listens}`);
  }
  return out.join('\n');
}

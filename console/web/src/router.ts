// Client-side routes: the path picks a page; links marked data-link change the page without a reload.

type Render = (path: string, query: URLSearchParams) => void;
let render: Render = () => undefined;

export function startRouter(onRoute: Render): void {
  render = onRoute;
  document.addEventListener('click', (e) => {
    const a = (e.target as Element).closest('a[data-link]');
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
    e.preventDefault();
    navigate(a.getAttribute('href')!);
  });
  window.addEventListener('popstate', current);
  current();
}

export function navigate(href: string): void {
  history.pushState(null, '', href);
  current();
}

function current(): void {
  render(location.pathname, new URLSearchParams(location.search));
}

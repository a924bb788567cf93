/** A host tag `key=value` as a chip; clickable when it can filter. */
export function TagChip({ name, value, onClick, title }: { name: string; value: string; onClick?: () => void; title?: string }) {
  const content = (
    <>
      <span class="tag-key">{name}</span>
      <span class="tag-eq">=</span>
      <span class="tag-value">{value}</span>
    </>
  );
  if (onClick)
    return (
      <button
        type="button"
        class="tag tag-button"
        onClick={onClick}
        title={title ?? `Filter by ${name}=${value}`}
        aria-label={title ?? `Filter by ${name}=${value}`}
      >
        {content}
      </button>
    );
  return <span class="tag">{content}</span>;
}

export function TagList({ tags, onTagClick }: { tags: Record<string, string>; onTagClick?: (name: string, value: string) => void }) {
  const entries = Object.entries(tags).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return <span class="muted small">no tags</span>;
  return (
    <span class="tags">
      {entries.map(([name, value]) => (
        <TagChip key={name} name={name} value={value} onClick={onTagClick ? () => onTagClick(name, value) : undefined} />
      ))}
    </span>
  );
}

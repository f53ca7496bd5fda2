import type { LabelSelector } from '../../api/meta.js';

/** metav1.FormatLabelSelector: the string form the scale subresource (and HPA) reads, e.g. "app=api". */
export function formatLabelSelector(selector: LabelSelector): string {
  const requirements: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) requirements.push([key, `${key}=${value}`]);
  for (const expression of selector.matchExpressions ?? []) {
    const values = [...(expression.values ?? [])].sort().join(',');
    const { key } = expression;
    switch (expression.operator) {
      case 'In':
        requirements.push([key, `${key} in (${values})`]);
        break;
      case 'NotIn':
        requirements.push([key, `${key} notin (${values})`]);
        break;
      case 'Exists':
        requirements.push([key, key]);
        break;
      case 'DoesNotExist':
        requirements.push([key, `!${key}`]);
        break;
    }
  }
  return requirements
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, text]) => text)
    .join(',');
}

import { describe, it, expect } from '@jest/globals';
import { histogramTotals, meanMsBetween } from './prometheus-text.js';

const TEXT = `# HELP agentgate_admission_duration_seconds Time to answer an admission review, by webhook.
# TYPE agentgate_admission_duration_seconds histogram
agentgate_admission_duration_seconds_bucket{le="0.001",webhook="pods"} 3
agentgate_admission_duration_seconds_sum{webhook="pods"} 0.25
agentgate_admission_duration_seconds_count{webhook="pods"} 100
agentgate_admission_duration_seconds_sum{webhook="accesspolicies"} 9
agentgate_admission_duration_seconds_count{webhook="accesspolicies"} 3
apiserver_admission_webhook_admission_duration_seconds_sum{name="a.b",operation="CREATE",rejected="false",type="admit"} 1.5
apiserver_admission_webhook_admission_duration_seconds_count{name="a.b",operation="CREATE",rejected="false",type="admit"} 10
apiserver_admission_webhook_admission_duration_seconds_sum{name="a.b",operation="CREATE",rejected="true",type="admit"} 0.5
apiserver_admission_webhook_admission_duration_seconds_count{name="a.b",operation="CREATE",rejected="true",type="admit"} 2
`;

describe('histogramTotals', () => {
  it('picks the series with the given labels', () => {
    expect(histogramTotals(TEXT, 'agentgate_admission_duration_seconds', { webhook: 'pods' })).toEqual({ sum: 0.25, count: 100 });
  });

  it('sums every series that matches', () => {
    expect(histogramTotals(TEXT, 'apiserver_admission_webhook_admission_duration_seconds', { name: 'a.b' })).toEqual({ sum: 2, count: 12 });
  });

  it('is zero for a metric that is not there', () => {
    expect(histogramTotals(TEXT, 'nope', {})).toEqual({ sum: 0, count: 0 });
  });
});

describe('meanMsBetween', () => {
  it('is the mean of what was observed between two scrapes, in ms', () => {
    expect(meanMsBetween({ sum: 1, count: 10 }, { sum: 1.5, count: 110 })).toBeCloseTo(5, 9);
    expect(meanMsBetween({ sum: 1, count: 10 }, { sum: 1, count: 10 })).toBeNaN();
  });
});

SELECT max(t) FROM (SELECT max(recorded_at) AS t FROM events UNION ALL SELECT max(recorded_at) FROM proofs);

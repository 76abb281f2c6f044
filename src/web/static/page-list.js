// page-list.js: a list of manifests (loads.html). On the console's lists
// (/app/console/manifests, the loads behind a dashboard counter) it adds what the bureau's
// reports need: each load can be picked for a case (wl-case.js), and "导出 CSV" writes the
// list as shown (number, status, waste, route, truck, time in CST) for Excel. A party's own
// list (/app/loads) stays as it is.
// Exports: none (a page script).

import { t } from './wl-app.js';
import { pickBox, showPicked, csvBlob, download } from './wl-case.js';

const list = document.getElementById('loads');
if (list && location.pathname === '/app/console/manifests') {
  for (const li of list.querySelectorAll('li[data-number]')) li.append(pickBox(li.dataset.number));
  document.getElementById('csv').addEventListener('click', () => {
    const rows = [[t('联单编号', 'Manifest'), t('状态', 'Status'), t('废物', 'Waste'), t('路线', 'Route'),
      t('车辆', 'Truck'), t('时间（北京时间）', 'Time (CST)')]];
    for (const li of list.querySelectorAll('li[data-number]')) {
      const d = li.dataset;
      rows.push([d.number, d.status, d.what, d.route, d.vehicle, d.time]);
    }
    const q = new URLSearchParams(location.search);
    download(csvBlob(rows), `${t('联单', 'manifests')}-${q.get('stream') || ''}-${q.get('show') || ''}.csv`);
  });
  document.getElementById('list-actions').hidden = false;
  showPicked();
}

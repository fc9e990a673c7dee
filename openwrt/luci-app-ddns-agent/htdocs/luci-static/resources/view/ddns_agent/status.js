'use strict';
'require view';
'require rpc';
'require poll';
'require ui';
'require dom';

// Status of every record, served by the rpcd plugin from the state file in shell (no Python per
// refresh); "Why not published?" asks the agent's plan, "Update now" runs one update.

var callStatus = rpc.declare({ object: 'luci.ddns_agent', method: 'status' });
var callPlan = rpc.declare({ object: 'luci.ddns_agent', method: 'plan' });
var callUpdate = rpc.declare({ object: 'luci.ddns_agent', method: 'update', params: [ 'record' ] });

var RESULTS = {
	published: _('published'),
	unchanged: _('unchanged'),
	refused: _('refused'),
	failed: _('failed'),
	held: _('held'),
	never: _('not run yet'),
	disabled: _('disabled')
};

function when(t) {
	if (t == null)
		return '-';
	var d = new Date(t * 1000), age = Math.floor(Date.now() / 1000) - t;
	var text = d.toLocaleString();
	if (age >= 0)
		text += ' (' + _('%s ago').format('%t'.format(age)) + ')';
	return text;
}

function source(row) {
	if (row.source)
		return row.source;
	return row.interface ? 'netifd ' + row.interface : '-';
}

return view.extend({
	load: function() {
		return callStatus();
	},

	writable: function() {
		return L.hasViewPermission() === true;
	},

	renderRow: function(row) {
		var why = (row.result != 'published' && row.result != 'unchanged');
		var detail = row.last_error || row.reason || '';
		var cells = [
			E('td', { 'class': 'td', 'data-title': _('Record') }, [
				E('strong', {}, row.fqdn), E('br'), E('small', {}, row.record + (row.provider ? ' · ' + row.provider : ''))
			]),
			E('td', { 'class': 'td', 'data-title': _('Type') }, row.type),
			E('td', { 'class': 'td ddns-address', 'data-title': _('Published address') }, row.address || '-'),
			E('td', { 'class': 'td', 'data-title': _('Source') }, source(row)),
			E('td', { 'class': 'td ddns-result', 'data-title': _('Result') }, RESULTS[row.result] || row.result),
			E('td', { 'class': 'td', 'data-title': _('Since') }, when(row.since != null ? row.since : row.time)),
			E('td', { 'class': 'td ddns-detail', 'data-title': _('Last error') }, [
				detail,
				why ? E('div', { 'class': 'ddns-why' }, [
					E('button', {
						'class': 'btn cbi-button ddns-why-button',
						'click': ui.createHandlerFn(this, 'handleWhy', row.record)
					}, _('Why not published?'))
				]) : ''
			]),
			E('td', { 'class': 'td', 'data-title': _('Next check') }, when(row.next_check).replace(/ \(.*\)$/, ''))
		];
		if (this.writable())
			cells.push(E('td', { 'class': 'td cbi-section-actions' }, [
				E('button', {
					'class': 'btn cbi-button cbi-button-action ddns-update',
					'click': ui.createHandlerFn(this, 'handleUpdate', row.record)
				}, _('Update now'))
			]));
		return E('tr', { 'class': 'tr', 'id': 'ddns-row-' + row.record, 'data-record': row.record,
			'data-result': row.result }, cells);
	},

	renderTable: function(status) {
		var titles = [ _('Record'), _('Type'), _('Published address'), _('Source'), _('Result'),
			_('Since'), _('Last error'), _('Next check') ];
		if (this.writable())
			titles.push('');
		var rows = (status && Array.isArray(status.records)) ? status.records : [];
		var table = E('table', { 'class': 'table', 'id': 'ddns-status' }, [
			E('tr', { 'class': 'tr table-titles' }, titles.map(function(t) { return E('th', { 'class': 'th' }, t); }))
		]);
		if (status && status.error)
			table.appendChild(E('tr', { 'class': 'tr placeholder' }, [
				E('td', { 'class': 'td ddns-error' }, status.error) ]));
		else if (!rows.length)
			table.appendChild(E('tr', { 'class': 'tr placeholder' }, [
				E('td', { 'class': 'td' }, _('No records configured yet.')) ]));
		rows.forEach(L.bind(function(row) { table.appendChild(this.renderRow(row)); }, this));
		return table;
	},

	refresh: function() {
		return callStatus().then(L.bind(function(status) {
			var old = document.getElementById('ddns-status');
			if (old)
				old.parentNode.replaceChild(this.renderTable(status), old);
		}, this));
	},

	handleUpdate: function(record, ev) {
		var tr = document.getElementById('ddns-row-' + record);
		if (tr)
			dom.content(tr.querySelector('.ddns-result'), E('em', { 'class': 'spinning' }, _('Updating…')));
		return callUpdate(record).then(L.bind(function(res) {
			if (res && res.code == 2)
				ui.addNotification(null, E('p', _('Update refused: %s').format(res.result)), 'error');
			return this.refresh();
		}, this));
	},

	handleUpdateAll: function(ev) {
		document.querySelectorAll('#ddns-status .ddns-result').forEach(function(cell) {
			dom.content(cell, E('em', { 'class': 'spinning' }, _('Updating…')));
		});
		return callUpdate().then(L.bind(this.refresh, this));
	},

	handleWhy: function(record, ev) {
		var cell = ev.target.parentNode;
		dom.content(cell, E('em', { 'class': 'spinning' }, _('Asking the agent…')));
		return callPlan().then(function(plan) {
			var item = (plan && Array.isArray(plan.records) ? plan.records : [])
				.filter(function(p) { return p.record == record; })[0];
			var text = item ? item.reason : (plan && plan.error) || _('The agent gave no plan for this record.');
			if (item && item.source)
				text += ' [' + item.source + ']';
			dom.content(cell, E('span', { 'class': 'ddns-plan-reason' }, text));
		});
	},

	render: function(status) {
		var actions = this.writable() ? E('div', { 'class': 'cbi-page-actions' }, [
			E('button', {
				'class': 'btn cbi-button cbi-button-apply ddns-update-all',
				'click': ui.createHandlerFn(this, 'handleUpdateAll')
			}, _('Update all now'))
		]) : E([]);

		poll.add(L.bind(this.refresh, this), 10);

		return E([], [
			E('h2', {}, _('Dynamic DNS agent')),
			E('div', { 'class': 'cbi-map-descr' },
				_('Each record is published when its interface gets a new address; nothing runs in between.')),
			E('div', { 'class': 'cbi-section' }, [ this.renderTable(status) ]),
			actions
		]);
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});

'use strict';
'require view';
'require form';
'require rpc';
'require uci';

// Providers and records of /etc/config/ddns_agent. Each provider type's options come from the
// agent's own registry (`ddns-agent providers --json` through rpcd), so the page and the agent
// cannot disagree. A secret is write-only: it goes to a 0600 file through rpcd's set_secret,
// the form stores only `<option>_file`, and never reads a secret back.

var callProviders = rpc.declare({ object: 'luci.ddns_agent', method: 'providers' });
var callSetSecret = rpc.declare({ object: 'luci.ddns_agent', method: 'set_secret',
	params: [ 'provider', 'option', 'value' ] });

// the agent's rules (ddns_agent/uci.py): labels of letters, digits, - and _, at most 63 each
function checkLabels(value, what, wildcard) {
	var name = value.toLowerCase();
	if (name.length > 253)
		return _('Invalid %s: longer than 253 characters').format(what);
	var labels = name.split('.');
	for (var i = 0; i < labels.length; i++) {
		var l = labels[i];
		if (l == '*' && wildcard && i == 0)
			continue;
		if (!l.length)
			return _('Invalid %s: empty label').format(what);
		if (l.length > 63)
			return _('Invalid %s: label %s is longer than 63 characters').format(what, l);
		if (!/^[a-z0-9_-]+$/.test(l) && /^[\x00-\x7f]*$/.test(l))
			return _('Invalid %s: label %s may only hold letters, digits, - and _').format(what, l);
		if (l[0] == '-' || l[l.length - 1] == '-')
			return _('Invalid %s: label %s starts or ends with a hyphen').format(what, l);
	}
	return true;
}

function validDomain(section_id, value) {
	if (!value)
		return _('Required: the zone, like example.com');
	var name = value.replace(/\.$/, '');
	var ok = checkLabels(name, _('domain'), false);
	if (ok !== true)
		return ok;
	return name.indexOf('.') > 0 ? true : _('Invalid domain: needs at least two labels, like example.com');
}

function validName(section_id, value) {
	return (!value || value == '@') ? true : checkLabels(value, _('name'), true);
}

function validInterface(section_id, value) {
	return (!value || /^[A-Za-z0-9_.-]+$/.test(value)) ? true
		: _('Expected a netifd interface name like wan or wan6');
}

var SecretValue = form.Value.extend({
	// never shows the stored value; an empty field keeps what is stored
	cfgvalue: function(section_id) { return null; },

	renderWidget: function(section_id, option_index, cfgvalue) {
		var stored = uci.get('ddns_agent', section_id, this.option + '_file');
		this.placeholder = stored ? _('stored in %s; type to replace').format(stored) : _('not set');
		return form.Value.prototype.renderWidget.call(this, section_id, option_index, null);
	},

	write: function(section_id, value) {
		var option = this.option;
		return callSetSecret(section_id, option, value).then(function(res) {
			if (!res || !res.path)
				throw new Error(_('Could not store the secret: %s').format((res && res.error) || '?'));
			uci.set('ddns_agent', section_id, option + '_file', res.path);
			uci.unset('ddns_agent', section_id, option);
		});
	},

	remove: function(section_id) {}
});

return view.extend({
	load: function() {
		return Promise.all([ callProviders(), uci.load('ddns_agent') ]);
	},

	render: function(data) {
		var registry = data[0] || {}, types = registry.types || {}, rules = registry.record || {};
		var ttl = rules.ttl || [ 1, 86400 ];
		var m, s, o;

		m = new form.Map('ddns_agent', _('Dynamic DNS agent'),
			_('Providers hold the account; records say which name gets which address. Save & Apply reloads the agent.'));

		s = m.section(form.TypedSection, 'agent', _('Agent'));
		s.anonymous = true;
		s.addremove = false;
		o = s.option(form.Flag, 'enabled', _('Enabled'));
		o.default = '1';
		o.rmempty = false;
		o = s.option(form.ListValue, 'log_level', _('Log level'));
		[ 'debug', 'info', 'notice', 'warning', 'error' ].forEach(function(l) { o.value(l); });
		o.default = 'info';

		s = m.section(form.TypedSection, 'provider', _('Providers'),
			_('Secrets are write-only: they are stored in a file only root can read, and never shown again.'));
		s.anonymous = false;
		s.addremove = true;
		s.addbtntitle = _('Add provider');

		o = s.option(form.ListValue, 'type', _('Type'));
		Object.keys(types).sort().forEach(function(t) {
			o.value(t, t + (types[t].installed ? '' : ' (' + _('not installed') + ')'));
		});
		o.rmempty = false;

		// one widget per option name, shown for every type that takes it
		var seen = {};
		Object.keys(types).sort().forEach(function(t) {
			var info = types[t];
			(info.required || []).concat(info.optional || []).forEach(function(name) {
				if (!seen[name]) {
					var secret = false;
					Object.keys(types).forEach(function(u) {
						if ((types[u].secrets || []).indexOf(name) >= 0)
							secret = true;
					});
					seen[name] = s.option(secret ? SecretValue : form.Value, name, name);
					if (secret)
						seen[name].password = true;
					seen[name].rmempty = true;
				}
				seen[name].depends('type', t);
			});
		});
		Object.keys(types).forEach(function(t) {
			(types[t].required || []).forEach(function(name) {
				if ((types[t].secrets || []).indexOf(name) < 0) {
					var opt = seen[name], old = opt.validate;
					opt.validate = function(section_id, value) {
						var sel = this.section.formvalue(section_id, 'type');
						if (sel == t && !value)
							return _('Required for %s').format(t);
						return old ? old.apply(this, arguments) : true;
					};
				}
			});
		});
		(registry.common || []).forEach(function(name) {
			if (!seen[name]) {
				o = s.option(form.Value, name, name);
				o.optional = true;
				o.rmempty = true;
			}
		});

		s = m.section(form.TypedSection, 'record', _('Records'));
		s.anonymous = false;
		s.addremove = true;
		s.addbtntitle = _('Add record');

		o = s.option(form.ListValue, 'provider', _('Provider'));
		uci.sections('ddns_agent', 'provider').forEach(function(p) { o.value(p['.name']); });
		o.rmempty = false;

		o = s.option(form.Value, 'domain', _('Domain'), _('The zone, like example.com'));
		o.validate = validDomain;
		o.rmempty = false;

		o = s.option(form.Value, 'name', _('Name'), _('@ for the zone apex'));
		o.placeholder = '@';
		o.validate = validName;

		o = s.option(form.ListValue, 'type', _('Type'));
		(rules.types || [ 'A', 'AAAA' ]).forEach(function(t) { o.value(t); });
		o.default = 'A';

		o = s.option(form.Value, 'interface', _('Interface'), _('netifd interface: wan, wan6, lan…'));
		o.validate = validInterface;
		o.placeholder = 'wan';

		o = s.option(form.Value, 'ttl', _('TTL'), _('%d to %d seconds; empty keeps the provider\'s').format(ttl[0], ttl[1]));
		o.validate = function(section_id, value) {
			if (!value)
				return true;
			if (!/^[0-9]+$/.test(value) || +value < ttl[0] || +value > ttl[1])
				return _('Expected an integer %d-%d').format(ttl[0], ttl[1]);
			return true;
		};

		o = s.option(form.Flag, 'enabled', _('Enabled'));
		o.default = '1';

		o = s.option(form.Flag, 'allow_private', _('Allow private addresses'));
		o.default = '0';

		return m.render();
	}
});

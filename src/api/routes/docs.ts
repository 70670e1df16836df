import { createHash } from 'node:crypto';
import { z } from '../../domain/zod.js';
import type { AppDeps } from '../env.js';
import { json, newRouter, op, open } from '../router.js';
import { anyObject } from '../schemas/common.js';

// A self-contained explorer: no CDN, no external font or script. It fetches /openapi.json, lists the
// operations by tag, shows their schemas, and sends requests with a pasted bearer token (kept in
// sessionStorage only).
const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:12px 20px;display:flex;gap:16px;align-items:center;flex-wrap:wrap}
header h1{font-size:18px;margin:0;flex:1}
header input{width:340px;padding:5px 8px;border-radius:4px;border:0;font-family:monospace}
main{max-width:1100px;margin:0 auto;padding:16px 20px}
h2{margin:24px 0 8px;text-transform:capitalize}
details.op{background:#fff;border:1px solid #d7dbe2;border-radius:6px;margin:6px 0}
details.op>summary{cursor:pointer;padding:8px 12px;display:flex;gap:12px;align-items:center}
.m{font:bold 12px monospace;padding:2px 8px;border-radius:3px;color:#fff;min-width:52px;text-align:center}
.get{background:#2f7fd1}.post{background:#2a9d5c}.put{background:#c98a17}.delete{background:#c23b3b}.patch{background:#7a4fc2}
.path{font-family:monospace;font-weight:600}.scope{margin-left:auto;font-size:12px;color:#5d6677}
.body{padding:4px 14px 14px;border-top:1px solid #eef0f3}
pre{background:#0f1420;color:#d8e0ee;padding:10px;border-radius:4px;overflow:auto;max-height:420px;font-size:12px}
textarea{width:100%;min-height:140px;font-family:monospace;font-size:12px}
label{display:block;margin:6px 0 2px;font-weight:600}
input.param{font-family:monospace;padding:3px 6px;width:260px}
button{padding:6px 14px;border-radius:4px;border:1px solid #1d2330;background:#1d2330;color:#fff;cursor:pointer;margin-top:8px}
.status{font-weight:bold;margin-top:8px}
`;

const SCRIPT = `
(function(){
  var tokenInput=document.getElementById('token');
  tokenInput.value=sessionStorage.getItem('selfheal-token')||'';
  tokenInput.addEventListener('input',function(){sessionStorage.setItem('selfheal-token',tokenInput.value.trim());});
  function el(tag,attrs,children){var e=document.createElement(tag);for(var k in attrs||{}){if(k==='text')e.textContent=attrs[k];else e.setAttribute(k,attrs[k]);}(children||[]).forEach(function(c){if(c)e.appendChild(c);});return e;}
  function pretty(v){return JSON.stringify(v,null,2);}
  function resolve(doc,schema,seen){
    if(!schema||typeof schema!=='object')return schema;
    if(schema.$ref){var name=schema.$ref.split('/').pop();seen=seen||{};if(seen[name])return {$ref:name};var s2=Object.assign({},seen);s2[name]=true;return resolve(doc,doc.components.schemas[name],s2);}
    if(Array.isArray(schema))return schema.map(function(x){return resolve(doc,x,seen);});
    var out={};for(var k in schema)out[k]=resolve(doc,schema[k],seen);return out;
  }
  function example(doc,schema,depth){
    schema=resolve(doc,schema,{});depth=depth||0;
    if(!schema||depth>6)return null;
    if(schema.examples&&schema.examples.length)return schema.examples[0];
    if(schema.default!==undefined)return schema.default;
    var alt=schema.anyOf||schema.oneOf;if(alt)return example(doc,alt[alt.length-1],depth+1);
    if(schema.type==='object'){var o={};var req=schema.required||[];for(var k in schema.properties||{}){if(req.indexOf(k)>=0)o[k]=example(doc,schema.properties[k],depth+1);}return o;}
    if(schema.type==='array')return [];
    if(schema.type==='string')return schema.enum?schema.enum[0]:(schema.const!==undefined?schema.const:'');
    if(schema.type==='integer'||schema.type==='number')return schema.minimum||0;
    if(schema.type==='boolean')return false;
    return null;
  }
  function operation(doc,path,method,op){
    var params=op.parameters||[];
    var inputs={};
    var body=el('div',{class:'body'});
    if(op.description)body.appendChild(el('p',{text:op.description}));
    params.forEach(function(p){
      var i=el('input',{class:'param',placeholder:(p.required?'required':'optional')+(p.description?' — '+p.description:'')});
      inputs[p.in+':'+p.name]=i;
      body.appendChild(el('label',{text:p.name+' ('+p.in+')'}));body.appendChild(i);
    });
    var textarea=null;
    var media=op.requestBody&&op.requestBody.content&&op.requestBody.content['application/json'];
    if(media){
      body.appendChild(el('label',{text:'Request body'}));
      textarea=el('textarea');textarea.value=pretty(example(doc,media.schema));body.appendChild(textarea);
      var sd=el('details',{},[el('summary',{text:'Request schema'}),el('pre',{text:pretty(resolve(doc,media.schema,{}))})]);body.appendChild(sd);
    }
    Object.keys(op.responses||{}).forEach(function(code){
      var r=op.responses[code];var c=r.content&&(r.content['application/json']||r.content['application/problem+json']);
      var d=el('details',{},[el('summary',{text:code+' — '+r.description})]);
      if(c&&c.schema)d.appendChild(el('pre',{text:pretty(resolve(doc,c.schema,{}))}));
      body.appendChild(d);
    });
    var status=el('div',{class:'status'});var out=el('pre',{text:''});out.style.display='none';
    var send=el('button',{text:'Send request'});
    send.addEventListener('click',function(){
      var url=path.replace(/\\{(\\w+)\\}/g,function(_m,n){var i=inputs['path:'+n];return encodeURIComponent(i?i.value:'');});
      var qs=[];var headers={};
      params.forEach(function(p){var v=inputs[p.in+':'+p.name].value;if(!v)return;if(p.in==='query')qs.push(encodeURIComponent(p.name)+'='+encodeURIComponent(v));if(p.in==='header')headers[p.name]=v;});
      if(qs.length)url+='?'+qs.join('&');
      var t=tokenInput.value.trim();if(t)headers['Authorization']='Bearer '+t;
      var init={method:method.toUpperCase(),headers:headers};
      if(textarea){headers['Content-Type']='application/json';init.body=textarea.value;}
      status.textContent='…';
      fetch(url,init).then(function(res){return res.text().then(function(txt){
        status.textContent=res.status+' '+res.statusText+' — '+init.method+' '+url;
        try{txt=pretty(JSON.parse(txt));}catch(e){}
        out.textContent=txt;out.style.display='block';
      });}).catch(function(err){status.textContent='request failed: '+err.message;});
    });
    body.appendChild(send);body.appendChild(status);body.appendChild(out);
    var scope=op['x-required-scope'];
    return el('details',{class:'op'},[el('summary',{},[el('span',{class:'m '+method,text:method.toUpperCase()}),el('span',{class:'path',text:path}),el('span',{text:op.summary||''}),el('span',{class:'scope',text:scope?'scope: '+scope:'public'})]),body]);
  }
  fetch('/openapi.json').then(function(r){return r.json();}).then(function(doc){
    document.getElementById('title').textContent=doc.info.title+' '+doc.info.version;
    var byTag={};
    Object.keys(doc.paths).forEach(function(path){Object.keys(doc.paths[path]).forEach(function(method){var op=doc.paths[path][method];var tag=(op.tags||['other'])[0];(byTag[tag]=byTag[tag]||[]).push([path,method,op]);});});
    var root=document.getElementById('ops');
    Object.keys(byTag).forEach(function(tag){
      root.appendChild(el('h2',{text:tag}));
      byTag[tag].forEach(function(x){root.appendChild(operation(doc,x[0],x[1],x[2]));});
    });
    var schemas=el('details',{},[el('summary',{text:'Schemas ('+Object.keys(doc.components.schemas).length+')'})]);
    Object.keys(doc.components.schemas).forEach(function(n){schemas.appendChild(el('details',{},[el('summary',{text:n}),el('pre',{text:pretty(doc.components.schemas[n])})]));});
    root.appendChild(el('h2',{text:'schemas'}));root.appendChild(schemas);
  }).catch(function(err){document.getElementById('ops').textContent='could not load /openapi.json: '+err.message;});
})();
`;

const HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Self-healing API</title><style>${STYLE}</style></head>
<body><header><h1 id="title">Self-healing API</h1>
<label for="token" style="margin:0">Bearer token</label><input id="token" type="password" autocomplete="off" placeholder="paste a token (kept in this tab only)">
<a href="/openapi.json" style="color:#9cc3ff">openapi.json</a></header>
<main id="ops">Loading…</main>
<script>${SCRIPT}</script></body></html>`;

const scriptHash = createHash('sha256').update(SCRIPT).digest('base64');
const CSP = `default-src 'none'; script-src 'sha256-${scriptHash}'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

/**
 * GET /openapi.json and GET /docs (public: they describe the API, they expose no data). The document is the
 * one createApp generates from every mounted router (`deps.openApiDocument`).
 */
export function docsRoutes(deps: AppDeps) {
  const app = newRouter();
  const tags = ['docs'];

  app.openapi(op(open(), { method: 'get', path: '/openapi.json', tags, summary: 'This OpenAPI document', responses: { 200: json('OpenAPI 3.1.', anyObject) } }), (c) => {
    if (!deps.openApiDocument) throw new Error('docsRoutes needs the app to provide openApiDocument (createApp does)');
    return c.json(deps.openApiDocument() as Record<string, unknown>, 200);
  });

  app.openapi(op(open(), { method: 'get', path: '/docs', tags, summary: 'Interactive API explorer', responses: { 200: { description: 'HTML page.', content: { 'text/html': { schema: z.string() } } } } }), (c) => {
    c.header('Content-Security-Policy', CSP);
    c.header('X-Content-Type-Options', 'nosniff');
    return c.html(HTML);
  });

  return app;
}

import os, re, glob, shutil
SRC='/tmp/rk-rec/out'; DST='/work/wt/realkamal/internal/kamalemu/testdata/real'
lockcmd = re.compile(r'^#   /usr/bin/env (mkdir -p \.kamal$|mkdir -p \.kamal/locks$|mkdir \.kamal/lock|rm \.kamal/lock|stat \.kamal/lock|mkdir \.kamal/locks/|rm \.kamal/locks/|stat \.kamal/locks/)')
for ver in ['v2.5.3','v2.6.0','v2.12.0']:
    d=os.path.join(DST,ver); os.makedirs(d, exist_ok=True)
    for f in sorted(glob.glob(os.path.join(SRC,ver,'*.txt'))):
        b=os.path.basename(f)
        s=open(f).read()
        if b.startswith('misc-') and not b.endswith('.hooks.txt'):
            out=[]; lines=s.split('\n'); i=0; sect=''
            while i < len(lines):
                l=lines[i]
                if l.startswith('# ') and not l.startswith('#   '): sect=l
                if l.startswith('#   ') and sect=='# remote commands:':
                    if lockcmd.match(l):
                        if ' && echo "' in l and l.count('"')==1:
                            # base64 details span lines: collapse
                            out.append(l[:l.index('echo "')]+'echo "<BASE64 DETAILS>" > '+'')
                            while i+1 < len(lines) and lines[i+1].startswith('#   ') and '" >' not in lines[i]:
                                i+=1
                                if '" > ' in lines[i]:
                                    out[-1]+=lines[i].split('" > ',1)[1]; break
                        else:
                            out.append(l)
                    i+=1; continue
                l=re.sub(r'INFO \[ID\] Running /usr/bin/env \.kamal/hooks/','INFO [ID] Running /usr/bin/env .kamal/hooks/',l)
                out.append(l); i+=1
            s='\n'.join(out)
            s=s.replace('# remote commands:','# lock-related remote commands:')
        if b.startswith('fail-'):
            full=open(f+'.out.full').read()
            k=full.find('  ERROR (')
            tail=full[full.rfind('\n',0,full.rfind('Releasing the deploy lock'))+1:] if 'Releasing the deploy lock' in full else full[k:]
            tail=re.sub(r'Finished all in [0-9.]+ seconds','Finished all in X seconds',tail)
            s+= '=== output from the lock release on\n' + tail
        open(os.path.join(d,b),'w').write(s)
print('ok')
